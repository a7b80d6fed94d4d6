#pragma once
// Socket helpers shared by the backends and the load generator. Addresses are numeric
// (no DNS: load only ever goes to loopback or to test namespaces).
#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/unique_fd.hpp"
#include "core/usage_error.hpp"

namespace mux {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  static SocketAddress parse(const std::string& host, std::uint16_t port);  // throws UsageError
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  bool is_loopback() const;
  std::uint16_t port() const;
  std::string to_string() const;  // "127.0.0.1:8080", "[::1]:8080"
};

// A non-blocking listening TCP socket; throws UsageError naming the fix when the port is in use.
// With `reuse_port`, SO_REUSEPORT: sockets bound to one port share its connections, by hash.
UniqueFd listen_tcp(const SocketAddress& address, int backlog, bool reuse_port = false);
SocketAddress local_address(int fd);

void set_nonblocking(int fd);
void set_nodelay(int fd);
// Starts a non-blocking connect; the fd becomes writable when it completes (check SO_ERROR).
// With `source`, the socket is bound to that address first with IP_BIND_ADDRESS_NO_PORT, so
// the port is picked per destination at connect time: each source address brings its own
// ~28,000 ephemeral ports, which is how one machine opens 100,000 connections to one server.
UniqueFd start_connect(const SocketAddress& address, const SocketAddress* source = nullptr);
int socket_error(int fd);  // SO_ERROR, cleared by reading it

}  // namespace mux
