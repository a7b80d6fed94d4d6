#include "loadgen/load_wire.hpp"

#include <stdexcept>

namespace mux {

using nlohmann::json;

void to_json(json& j, const LatencyHistogram& h) {
  json counts = json::array();
  for (std::size_t i = 0; i < h.counters(); ++i)
    if (const std::uint64_t n = h.count_at(i)) counts.push_back({i, n});
  j = {{"sub_bucket_bits", h.sub_bucket_bits()}, {"counts", std::move(counts)}, {"sum", h.sum()},
       {"min", h.min()}, {"max", h.max()}, {"clamped", h.clamped()}};
}

void from_json(const json& j, LatencyHistogram& h) {
  std::vector<std::pair<std::size_t, std::uint64_t>> counts;
  for (const auto& c : j.at("counts")) counts.emplace_back(c.at(0).get<std::size_t>(), c.at(1).get<std::uint64_t>());
  h = LatencyHistogram::restore(j.at("sub_bucket_bits").get<int>(), counts, j.at("sum").get<std::uint64_t>(),
                                j.at("min").get<std::uint64_t>(), j.at("max").get<std::uint64_t>(),
                                j.at("clamped").get<std::uint64_t>());
}

void to_json(json& j, const SocketAddress& address) { j = address.to_string(); }

// As to_string() writes it: a numeric address with its port ("127.0.0.1:8080", "[::1]:8080"),
// or a Unix socket ("unix:/tmp/x.sock").
void from_json(const json& j, SocketAddress& address) {
  const auto text = j.get<std::string>();
  if (text.starts_with(kUnixAddressPrefix)) {
    address = SocketAddress::unix_socket(text.substr(kUnixAddressPrefix.size()));
    return;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("address without a port: " + text);
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  address = SocketAddress::parse(host, static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
}

void to_json(json& j, const Distribution& distribution) { j = distribution.to_string(); }

void from_json(const json& j, Distribution& distribution) { distribution = Distribution::parse(j.get<std::string>()); }

}  // namespace mux
