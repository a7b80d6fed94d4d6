// Every protocol, by name. Adding one: its file, and one line here.
#include <array>

#include "core/echo_protocol.hpp"
#include "core/http_protocol.hpp"

namespace mux {
namespace {

struct ProtocolEntry {
  std::string_view name;
  std::unique_ptr<ServerCodec> (*make_server)();
  std::unique_ptr<ClientProtocol> (*make_client)(std::size_t message_size);
};

constexpr std::array kProtocols{
    ProtocolEntry{"echo", [] { return std::unique_ptr<ServerCodec>(new EchoServerCodec); },
                  [](std::size_t size) { return std::unique_ptr<ClientProtocol>(new EchoClientProtocol(size)); }},
    ProtocolEntry{"http", [] { return std::unique_ptr<ServerCodec>(new HttpServerCodec); },
                  [](std::size_t) { return std::unique_ptr<ClientProtocol>(new HttpClientProtocol); }},
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

std::unique_ptr<ClientProtocol> make_client_protocol(std::string_view name, std::size_t message_size) {
  const auto* p = find(name);
  return p ? p->make_client(message_size) : nullptr;
}

std::vector<std::string> protocol_names() {
  std::vector<std::string> names;
  for (const auto& p : kProtocols) names.emplace_back(p.name);
  return names;
}

}  // namespace mux
