// Every protocol, by name. Adding one: its file, and one line here.
#include <array>

#include "core/echo_protocol.hpp"
#include "core/http_protocol.hpp"
#include "core/raw_protocol.hpp"

namespace mux {
namespace {

struct ProtocolEntry {
  std::string_view name;
  std::string_view help;  // a phrase for --protocol's help
  bool counts_requests;   // false: no message boundaries, ServerCodec::requests() is always 0
  std::unique_ptr<ServerCodec> (*make_server)();
  std::unique_ptr<ClientProtocol> (*make_client)(const ClientProtocolOptions& options);
};

template <typename T>
std::unique_ptr<ServerCodec> make_server() {
  return std::make_unique<T>();
}

template <typename T>
std::unique_ptr<ClientProtocol> make_client(const ClientProtocolOptions& options) {
  return std::make_unique<T>(options);
}

constexpr std::array kProtocols{
    ProtocolEntry{"echo", "length-prefixed echo", true, make_server<EchoServerCodec>, make_client<EchoClientProtocol>},
    ProtocolEntry{"http", "HTTP/1.1 GET, keep-alive", true, make_server<HttpServerCodec>, make_client<HttpClientProtocol>},
    ProtocolEntry{"raw", "plain echo, no framing (any echo client or server is a peer)", false,
                  make_server<RawServerCodec>, make_client<RawClientProtocol>},
};

const ProtocolEntry* find(std::string_view name) {
  for (const auto& p : kProtocols)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

ServerCodecFactory server_codec_factory(std::string_view name) {
  const auto* p = find(name);
  return p ? ServerCodecFactory(p->make_server) : nullptr;
}

std::unique_ptr<ClientProtocol> make_client_protocol(std::string_view name, const ClientProtocolOptions& options) {
  const auto* p = find(name);
  return p ? p->make_client(options) : nullptr;
}

std::vector<std::string> protocol_names() {
  std::vector<std::string> names;
  for (const auto& p : kProtocols) names.emplace_back(p.name);
  return names;
}

std::string protocol_help() {
  std::string help;
  for (const auto& p : kProtocols) {
    if (!help.empty()) help += "; ";
    help.append(p.name).append(": ").append(p.help);
  }
  return help;
}

bool protocol_counts_requests(std::string_view name) {
  const auto* p = find(name);
  return p != nullptr && p->counts_requests;
}

}  // namespace mux
