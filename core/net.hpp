#pragma once
// Socket helpers shared by the backends and the load generator. A server binds a numeric
// address or a Unix socket path; a load target may also be a host name (resolve()).
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"
#include "core/usage_error.hpp"

namespace mux {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  static SocketAddress parse(const std::string& host, std::uint16_t port);  // throws UsageError
  // An AF_UNIX stream socket's path; throws UsageError when it is empty or does not fit sun_path.
  static SocketAddress unix_socket(const std::string& path);
  // Every address `host` names, numeric or a name (getaddrinfo: /etc/hosts, then DNS), in the
  // resolver's order, without repeats. Throws UsageError naming the host when it names none.
  static std::vector<SocketAddress> resolve(const std::string& host, std::uint16_t port);
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  bool is_unix() const { return family() == AF_UNIX; }
  std::string unix_path() const;  // is_unix(): the socket's path
  bool is_loopback() const;     // false for a Unix socket: no IP address at all
  bool is_unspecified() const;  // 0.0.0.0 or "::", which bind every local address
  // Loopback, unspecified, an address of one of this machine's interfaces (getifaddrs), or a
  // Unix socket (always this machine's).
  bool is_local() const;
  // Where a client on this machine reaches a server bound here: an unspecified address
  // becomes the loopback address of its family; any other is itself.
  SocketAddress reachable_locally() const;
  bool operator==(const SocketAddress& o) const;
  std::uint16_t port() const;  // 0 for a Unix socket
  std::string to_string() const;  // "127.0.0.1:8080", "[::1]:8080", "unix:/tmp/x.sock"
};

// How a Unix socket's address is written: "unix:/tmp/x.sock" (to_string, `bench load --target`).
inline constexpr std::string_view kUnixAddressPrefix = "unix:";
// The longest path a Unix socket address holds: sun_path less its terminating NUL.
inline constexpr std::size_t kMaxUnixSocketPath = sizeof(sockaddr_un::sun_path) - 1;

// A non-blocking listening TCP socket; throws UsageError naming the fix when the port is in use.
// With `reuse_port`, SO_REUSEPORT: sockets bound to one port share its connections, by hash.
UniqueFd listen_tcp(const SocketAddress& address, int backlog, bool reuse_port = false);
// A non-blocking listening Unix stream socket at address.unix_path(). A socket file nothing
// listens on (left by a server that was killed) is replaced; a path a server still accepts on,
// or a file that is not a socket, is refused with a UsageError naming the fix.
UniqueFd listen_unix(const SocketAddress& address, int backlog);
// TCP or Unix, by the address's family.
UniqueFd listen_stream(const SocketAddress& address, int backlog, bool reuse_port = false);
SocketAddress local_address(int fd);

void set_nonblocking(int fd);
void set_nodelay(int fd);
// An IPv4 or IPv6 socket (SO_DOMAIN): one TCP options apply to. False for AF_UNIX or a bad fd.
bool is_tcp_socket(int fd);
// Starts a non-blocking connect; the fd becomes writable when it completes (check SO_ERROR).
// Over TCP, TCP_NODELAY is set first. A Unix socket connects at once, or, while the server's
// backlog is full, waits up to 1 s for room (see net.cpp). With `source` (TCP only), the
// socket is bound to that address first with IP_BIND_ADDRESS_NO_PORT, so the port is picked
// per destination at connect time: each source address brings its own ~28,000 ephemeral
// ports, which is how one machine opens 100,000 connections to one server.
UniqueFd start_connect(const SocketAddress& address, const SocketAddress* source = nullptr);
int socket_error(int fd);  // SO_ERROR, cleared by reading it
// This machine's interface addresses of `family` with `port` (getifaddrs), the others before
// loopback; IPv6 link-local ones are left out (they need a scope to be reached). Where a server
// bound 0.0.0.0 or :: is reached from another host, one of the others is the way.
std::vector<SocketAddress> interface_addresses(int family, std::uint16_t port);
// The first of `candidates` that accepts a TCP connection within `timeout` each (a name may
// resolve to ::1 and 127.0.0.1 while the server listens on one of them only), or nullptr.
const SocketAddress* first_accepting(const std::vector<SocketAddress>& candidates, std::chrono::milliseconds timeout);

}  // namespace mux
