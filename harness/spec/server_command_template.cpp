#include "harness/spec/server_command_template.hpp"

#include <sstream>

#include <fmt/format.h>

#include "core/usage_error.hpp"

namespace mux {
namespace {

constexpr const char* kServerCommandPlaceholders =
    "{host}, {port}, {cpus}, and {path} with --transport=unix ({{ and }} for literal braces)";

}  // namespace

std::string expand_server_command(const std::string& command, const ServerCommandValues& values) {
  const bool unix_socket = !values.path.empty();
  std::string out;
  bool has_endpoint = false;  // {port}, or {path} over a Unix socket
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if ((c == '{' || c == '}') && i + 1 < command.size() && command[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{' && i > 0 && command[i - 1] == '$') {  // the shell's ${VAR}: left to it
      const auto close = command.find('}', i);
      if (close == std::string::npos)
        throw UsageError(fmt::format("--server-cmd: an unmatched '{{' in `{}`; placeholders are {}", command, kServerCommandPlaceholders));
      out += command.substr(i, close - i + 1);
      i = close;
    } else if (c == '{') {
      const auto close = command.find('}', i);
      if (close == std::string::npos)
        throw UsageError(fmt::format("--server-cmd: an unmatched '{{' in `{}`; placeholders are {}", command, kServerCommandPlaceholders));
      const std::string name = command.substr(i + 1, close - i - 1);
      if (unix_socket && (name == "port" || name == "host")) {
        throw UsageError(fmt::format("--server-cmd: {{{}}} with --transport=unix, where the server listens on a socket "
                                     "path, not an address: use {{path}} (e.g. --server-cmd='./server --unix={{path}}')",
                                     name));
      } else if (!unix_socket && name == "path") {
        throw UsageError("--server-cmd: {path} is the Unix socket's path: add --transport=unix, or listen on "
                         "{host}:{port}");
      } else if (name == "port" || name == "path") {
        out += unix_socket ? values.path : std::to_string(values.port);
        has_endpoint = true;
      } else if (name == "host") {
        out += values.host;
      } else if (name == "cpus") {
        out += values.cpus;
      } else {
        throw UsageError(fmt::format("--server-cmd: unknown placeholder {{{}}}; placeholders are {}", name, kServerCommandPlaceholders));
      }
      i = close;
    } else if (c == '}') {
      throw UsageError(fmt::format("--server-cmd: an unmatched '}}' in `{}`; placeholders are {}", command, kServerCommandPlaceholders));
    } else {
      out += c;
    }
  }
  if (!has_endpoint && unix_socket)
    throw UsageError(fmt::format("--server-cmd must contain {{path}} with --transport=unix: bench picks the socket path "
                                 "and the server must listen on it, e.g. --server-cmd='./server --unix={{path}}' (`{}` "
                                 "has none)",
                                 command));
  if (!has_endpoint)
    throw UsageError(fmt::format("--server-cmd must contain {{port}}: bench picks the port and the server must listen "
                                 "on it, e.g. --server-cmd='./server --port={{port}}' (`{}` has none)",
                                 command));
  return out;
}

void check_server_command(const std::string& command, ServerTransport transport) {
  const ServerCommandValues tcp{"127.0.0.1", 1, "0", ""}, unix_socket{"127.0.0.1", 1, "0", "/tmp/s.sock"};
  if (transport == ServerTransport::unix_socket) {
    expand_server_command(command, unix_socket);
    return;
  }
  if (transport == ServerTransport::tcp) {
    expand_server_command(command, tcp);
    return;
  }
  try {  // either: a {path} command passes as a Unix socket's; a bad one gets the TCP message
    expand_server_command(command, unix_socket);
  } catch (const UsageError&) {
    expand_server_command(command, tcp);
  }
}

std::string server_command_name(const std::string& command) {
  std::istringstream words(command);
  std::string first;
  words >> first;
  if (const auto slash = first.rfind('/'); slash != std::string::npos) first.erase(0, slash + 1);
  return first.empty() ? std::string("server-cmd") : first;
}

}  // namespace mux
