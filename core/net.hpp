#pragma once
// Socket helpers shared by the backends and the load generator. A server binds a numeric
// address; a load target may also be a host name (resolve()).
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/unique_fd.hpp"
#include "core/usage_error.hpp"

namespace mux {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  static SocketAddress parse(const std::string& host, std::uint16_t port);  // throws UsageError
  // Every address `host` names, numeric or a name (getaddrinfo: /etc/hosts, then DNS), in the
  // resolver's order, without repeats. Throws UsageError naming the host when it names none.
  static std::vector<SocketAddress> resolve(const std::string& host, std::uint16_t port);
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  bool is_loopback() const;
  bool is_unspecified() const;  // 0.0.0.0 or "::", which bind every local address
  // Loopback, unspecified, or an address of one of this machine's interfaces (getifaddrs).
  bool is_local() const;
  // Where a client on this machine reaches a server bound here: an unspecified address
  // becomes the loopback address of its family; any other is itself.
  SocketAddress reachable_locally() const;
  bool operator==(const SocketAddress& o) const;
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
// The first of `candidates` that accepts a TCP connection within `timeout` each (a name may
// resolve to ::1 and 127.0.0.1 while the server listens on one of them only), or nullptr.
const SocketAddress* first_accepting(const std::vector<SocketAddress>& candidates, std::chrono::milliseconds timeout);

}  // namespace mux
