#include "loadgen/load_wire.hpp"

#include <stdexcept>

namespace mux {
namespace {

using nlohmann::json;

// A numeric address with its port: "127.0.0.1:8080", "[::1]:8080".
SocketAddress address_from_string(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("address without a port: " + text);
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return SocketAddress::parse(host, static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
}

}  // namespace

json histogram_to_json(const LatencyHistogram& h) {
  json counts = json::array();
  for (std::size_t i = 0; i < h.counters(); ++i)
    if (const std::uint64_t n = h.count_at(i)) counts.push_back({i, n});
  return {{"sub_bucket_bits", h.sub_bucket_bits()}, {"counts", std::move(counts)}, {"sum", h.sum()},
          {"min", h.min()}, {"max", h.max()}, {"clamped", h.clamped()}};
}

LatencyHistogram histogram_from_json(const json& j) {
  std::vector<std::pair<std::size_t, std::uint64_t>> counts;
  for (const auto& c : j.at("counts")) counts.emplace_back(c.at(0).get<std::size_t>(), c.at(1).get<std::uint64_t>());
  return LatencyHistogram::restore(j.at("sub_bucket_bits").get<int>(), counts, j.at("sum").get<std::uint64_t>(),
                                   j.at("min").get<std::uint64_t>(), j.at("max").get<std::uint64_t>(),
                                   j.at("clamped").get<std::uint64_t>());
}

json config_to_json(const LoadConfig& c) {
  json sources = json::array();
  for (const SocketAddress& s : c.sources) sources.push_back(s.to_string());
  return {{"target", c.target.to_string()},
          {"clients", c.clients},
          {"threads", c.threads},
          {"cpus", c.cpus},
          {"protocol", c.protocol},
          {"message_size", c.message_size.to_string()},
          {"work_us", c.work_us.to_string()},
          {"expected_body", c.expected_body ? json(*c.expected_body) : json()},
          {"pipeline", c.pipeline},
          {"warmup_s", c.warmup_s},
          {"duration_s", c.duration_s},
          {"timeout_s", c.timeout_s},
          {"rate", c.rate},
          {"arrival", arrival_name(c.arrival)},
          {"seed", c.seed},
          {"idle", c.idle},
          {"churn", c.churn},
          {"sources", std::move(sources)}};
}

LoadConfig config_from_json(const json& j) {
  LoadConfig c;
  c.target = address_from_string(j.at("target").get<std::string>());
  c.clients = j.at("clients");
  c.threads = j.at("threads");
  c.cpus = j.at("cpus").get<CpuList>();
  c.protocol = j.at("protocol");
  c.message_size = Distribution::parse(j.at("message_size").get<std::string>());
  c.work_us = Distribution::parse(j.at("work_us").get<std::string>());
  if (!j.at("expected_body").is_null()) c.expected_body = j.at("expected_body").get<std::string>();
  c.pipeline = j.at("pipeline");
  c.warmup_s = j.at("warmup_s");
  c.duration_s = j.at("duration_s");
  c.timeout_s = j.at("timeout_s");
  c.rate = j.at("rate");
  c.arrival = j.at("arrival") == arrival_name(LoadConfig::Arrival::poisson) ? LoadConfig::Arrival::poisson
                                                                            : LoadConfig::Arrival::constant;
  c.seed = j.at("seed");
  c.idle = j.at("idle");
  c.churn = j.at("churn");
  for (const auto& s : j.at("sources")) c.sources.push_back(address_from_string(s.get<std::string>()));
  return c;
}

json result_to_json(const LoadResult& r) {
  json timeline = json::array();
  for (const Interval& i : r.timeline)
    timeline.push_back({{"requests", i.requests}, {"errors", i.errors}, {"latency", histogram_to_json(i.latency)}});
  json by_work_class = json::array();
  for (const LatencyHistogram& h : r.latency_by_work_class) by_work_class.push_back(histogram_to_json(h));
  return {{"latency", histogram_to_json(r.latency)},
          {"latency_uncorrected", histogram_to_json(r.latency_uncorrected)},
          {"latency_by_work_class", std::move(by_work_class)},
          {"requests", r.requests},
          {"bytes_verified", r.bytes_verified},
          {"errors",
           {{"connect", r.errors.connect}, {"reset", r.errors.reset}, {"mismatch", r.errors.mismatch},
            {"timeout", r.errors.timeout}}},
          {"reconnects", r.reconnects},
          {"churn_connects", r.churn_connects},
          {"connect_latency", histogram_to_json(r.connect_latency)},
          {"timeline", std::move(timeline)},
          {"completed_total", r.completed_total},
          {"sent_total", r.sent_total},
          {"thread_cpu_ns", r.thread_cpu_ns},
          {"thread_waiting_ns", r.thread_waiting_ns}};
}

LoadResult result_from_json(const json& j) {
  LoadResult r;
  r.latency = histogram_from_json(j.at("latency"));
  r.latency_uncorrected = histogram_from_json(j.at("latency_uncorrected"));
  for (const json& h : j.at("latency_by_work_class")) r.latency_by_work_class.push_back(histogram_from_json(h));
  r.requests = j.at("requests");
  r.bytes_verified = j.at("bytes_verified");
  const json& e = j.at("errors");
  r.errors = {.connect = e.at("connect"), .reset = e.at("reset"), .mismatch = e.at("mismatch"), .timeout = e.at("timeout")};
  r.reconnects = j.at("reconnects");
  r.churn_connects = j.at("churn_connects");
  r.connect_latency = histogram_from_json(j.at("connect_latency"));
  for (const json& i : j.at("timeline")) {
    Interval interval;
    interval.requests = i.at("requests");
    interval.errors = i.at("errors");
    interval.latency = histogram_from_json(i.at("latency"));
    r.timeline.push_back(std::move(interval));
  }
  r.completed_total = j.at("completed_total");
  r.sent_total = j.at("sent_total");
  r.thread_cpu_ns = j.at("thread_cpu_ns").get<std::vector<std::uint64_t>>();
  r.thread_waiting_ns = j.at("thread_waiting_ns").get<std::vector<std::uint64_t>>();
  return r;
}

}  // namespace mux
