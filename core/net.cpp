#include "core/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace mux {

SocketAddress SocketAddress::parse(const std::string& host, std::uint16_t port) {
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.length = sizeof(sockaddr_in6);
  } else {
    throw UsageError(fmt::format("'{}' is not a numeric IPv4 or IPv6 address; use e.g. 127.0.0.1 or ::1", host));
  }
  return a;
}

std::vector<SocketAddress> SocketAddress::resolve(const std::string& host, std::uint16_t port) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(h.c_str(), service.c_str(), &hints, &list); rc != 0)
    throw UsageError(fmt::format("cannot resolve the host '{}': {}; check the name, or give a numeric address",
                                 host, rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)));
  std::vector<SocketAddress> found;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    if (std::find(found.begin(), found.end(), a) == found.end()) found.push_back(a);
  }
  ::freeaddrinfo(list);
  if (found.empty()) throw UsageError(fmt::format("the host '{}' has no IPv4 or IPv6 address", host));
  return found;
}

namespace {

// The same IPv4 or IPv6 address, ports aside: `a` and `b` of one family.
bool same_ip(const sockaddr* a, const sockaddr* b) {
  if (a->sa_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr == reinterpret_cast<const sockaddr_in*>(b)->sin_addr.s_addr;
  return IN6_ARE_ADDR_EQUAL(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                            &reinterpret_cast<const sockaddr_in6*>(b)->sin6_addr);
}

}  // namespace

bool SocketAddress::operator==(const SocketAddress& o) const {
  return family() == o.family() && port() == o.port() && same_ip(get(), o.get());
}

bool SocketAddress::is_unspecified() const {
  if (family() == AF_INET) return reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
}

bool SocketAddress::is_local() const {
  if (is_loopback() || is_unspecified()) return true;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool local = false;
  for (const ifaddrs* i = list; i != nullptr && !local; i = i->ifa_next)
    local = i->ifa_addr != nullptr && i->ifa_addr->sa_family == family() && same_ip(i->ifa_addr, get());
  ::freeifaddrs(list);
  return local;
}

SocketAddress SocketAddress::reachable_locally() const {
  if (!is_unspecified()) return *this;
  return parse(family() == AF_INET ? "127.0.0.1" : "::1", port());
}

bool SocketAddress::is_loopback() const {
  if (family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

std::string SocketAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
    return fmt::format("{}:{}", buf, port());
  }
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf, sizeof buf);
  return fmt::format("[{}]:{}", buf, port());
}

UniqueFd listen_tcp(const SocketAddress& address, int backlog, bool reuse_port) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw std::runtime_error(fmt::format("socket(): {}", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw std::runtime_error(fmt::format("setsockopt(SO_REUSEPORT): {}", std::strerror(errno)));
  if (::bind(fd.get(), address.get(), address.length) != 0) {
    const int err = errno;
    if (err == EADDRINUSE)
      throw UsageError(fmt::format("port {} on {} is in use; choose another with --port (0 picks a free one) "
                                   "or stop the process that holds it",
                                   address.port(), address.to_string()));
    if (err == EACCES)
      throw UsageError(fmt::format("no permission to bind {}; use a port >= 1024", address.to_string()));
    throw UsageError(fmt::format("cannot bind {}: {}", address.to_string(), std::strerror(err)));
  }
  if (::listen(fd.get(), backlog) != 0)
    throw std::runtime_error(fmt::format("listen(): {}", std::strerror(errno)));
  return fd;
}

SocketAddress local_address(int fd) {
  SocketAddress a;
  a.length = sizeof a.storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length);
  return a;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

UniqueFd start_connect(const SocketAddress& address, const SocketAddress* source) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  set_nodelay(fd.get());
  if (source != nullptr) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd.get(), source->get(), source->length) != 0) {
      const int err = errno;
      fd.reset();
      errno = err;
      return fd;
    }
  }
  if (::connect(fd.get(), address.get(), address.length) != 0 && errno != EINPROGRESS) {
    const int err = errno;
    fd.reset();
    errno = err;
  }
  return fd;
}

const SocketAddress* first_accepting(const std::vector<SocketAddress>& candidates, std::chrono::milliseconds timeout) {
  for (const SocketAddress& a : candidates) {
    UniqueFd fd = start_connect(a);
    if (!fd) continue;
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && socket_error(fd.get()) == 0) return &a;
  }
  return nullptr;
}

int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

}  // namespace mux
