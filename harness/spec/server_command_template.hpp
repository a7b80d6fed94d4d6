#pragma once
// --server-cmd: any server as a backend, given as a command template. The template is part of
// the run's specification (checked when the flags are parsed, expanded when the server starts).
#include <cstdint>
#include <string>

namespace mux {

// The placeholders a --server-cmd may use: over TCP {port} is required, over a Unix socket
// (--transport=unix) {path} is, and {host} and {port} mean nothing.
struct ServerCommandValues {
  std::string host;  // {host}: the address the server should bind
  std::uint16_t port = 0;  // {port}
  std::string cpus;  // {cpus}: the server's CPUs, "0" or "0-1" (it is pinned to them anyway)
  std::string path;  // {path}: the Unix socket it should listen on; empty over TCP
};
// Replaces every placeholder; "{{" and "}}" stand for braces. Throws UsageError for a command
// without the placeholder its transport needs, with one the transport has no value for, with an
// unknown {name}, or with an unmatched brace.
std::string expand_server_command(const std::string& command, const ServerCommandValues& values);
// Checks the template alone (the values do not matter) for a server over TCP, over a Unix
// socket, or (a sweep's --servers, before the runs' flags are known) over either: throws as
// expand_server_command (for `either`, the TCP check's message when neither fits).
enum class ServerTransport { tcp, unix_socket, either };
void check_server_command(const std::string& command, ServerTransport transport);
// "/usr/sbin/nginx -c x {port}" -> "nginx": the name a command's server gets when not given one.
std::string server_command_name(const std::string& command);

}  // namespace mux
