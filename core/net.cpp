#include "core/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
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

SocketAddress SocketAddress::unix_socket(const std::string& path) {
  if (path.empty()) throw UsageError("the Unix socket path is empty; give a file path, e.g. /tmp/bench.sock");
  if (path.size() > kMaxUnixSocketPath)
    throw UsageError(fmt::format("the Unix socket path {} is {} bytes, more than the {} a socket address holds; "
                                 "choose a shorter path",
                                 path, path.size(), kMaxUnixSocketPath));
  if (path.find('\0') != std::string::npos) throw UsageError("the Unix socket path contains a NUL byte");
  SocketAddress a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

std::string SocketAddress::unix_path() const {
  const auto* un = reinterpret_cast<const sockaddr_un*>(&storage);
  const std::size_t room = length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
  return std::string(un->sun_path, ::strnlen(un->sun_path, std::min(room, sizeof un->sun_path)));
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
  if (family() != o.family()) return false;
  if (is_unix()) return unix_path() == o.unix_path();
  return port() == o.port() && same_ip(get(), o.get());
}

bool SocketAddress::is_unspecified() const {
  if (is_unix()) return false;
  if (family() == AF_INET) return reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
}

bool SocketAddress::is_local() const {
  if (is_unix()) return true;
  if (is_loopback() || is_unspecified()) return true;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool local = false;
  for (const ifaddrs* i = list; i != nullptr && !local; i = i->ifa_next)
    local = i->ifa_addr != nullptr && i->ifa_addr->sa_family == family() && same_ip(i->ifa_addr, get());
  ::freeifaddrs(list);
  return local;
}

std::vector<SocketAddress> interface_addresses(int family, std::uint16_t port) {
  std::vector<SocketAddress> others, loopback;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return others;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != family) continue;
    SocketAddress a;
    a.length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    std::memcpy(&a.storage, i->ifa_addr, a.length);
    if (family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
      if (IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr)) continue;
      v6->sin6_port = htons(port);
    }
    auto& into = a.is_loopback() ? loopback : others;
    if (std::find(into.begin(), into.end(), a) == into.end()) into.push_back(a);
  }
  ::freeifaddrs(list);
  others.insert(others.end(), loopback.begin(), loopback.end());
  return others;
}

SocketAddress SocketAddress::reachable_locally() const {
  if (!is_unspecified()) return *this;
  return parse(family() == AF_INET ? "127.0.0.1" : "::1", port());
}

bool SocketAddress::is_loopback() const {
  if (is_unix()) return false;
  if (family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

std::uint16_t SocketAddress::port() const {
  if (is_unix()) return 0;
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

std::string SocketAddress::to_string() const {
  if (is_unix()) return std::string(kUnixAddressPrefix) + unix_path();
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

namespace {

// Whether a server listens on the Unix socket at `address`. A non-blocking connect of a Unix
// socket completes at once, fails with EAGAIN when the listener's backlog is full, or with
// ECONNREFUSED when nothing listens.
bool someone_listens(const SocketAddress& address) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  return probe && (::connect(probe.get(), address.get(), address.length) == 0 || errno == EAGAIN);
}

}  // namespace

UniqueFd listen_unix(const SocketAddress& address, int backlog) {
  const std::string path = address.unix_path();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw std::runtime_error(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  int rc = ::bind(fd.get(), address.get(), address.length);
  if (rc != 0 && errno == EADDRINUSE) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
      throw UsageError(fmt::format("{} exists and is not a socket; choose another --socket-path or remove it", path));
    if (someone_listens(address))
      throw UsageError(fmt::format("a server already listens on the Unix socket {}; choose another --socket-path or "
                                   "stop that server",
                                   path));
    ::unlink(path.c_str());  // a socket file left by a server that is gone
    rc = ::bind(fd.get(), address.get(), address.length);
  }
  if (rc != 0) {
    const int err = errno;
    throw UsageError(fmt::format("cannot create the Unix socket {}: {}; check that its directory exists and is "
                                 "writable, or choose another --socket-path",
                                 path, std::strerror(err)));
  }
  if (::listen(fd.get(), backlog) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    throw std::runtime_error(fmt::format("listen(): {}", std::strerror(err)));
  }
  return fd;
}

UniqueFd listen_stream(const SocketAddress& address, int backlog, bool reuse_port) {
  return address.is_unix() ? listen_unix(address, backlog) : listen_tcp(address, backlog, reuse_port);
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

bool is_tcp_socket(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && (domain == AF_INET || domain == AF_INET6);
}

namespace {

// A Unix socket connects at once or not at all: a non-blocking connect fails with EAGAIN while
// the listener's backlog is full (TCP would instead wait for the server in the background).
// So then the connect blocks until the server accepts one, for at most this long, as a
// dropped SYN costs TCP a 1 s retransmission. Rare: the backlog holds net.core.somaxconn.
constexpr timeval kUnixBacklogWait{.tv_sec = 1, .tv_usec = 0};

int wait_for_unix_backlog(int fd, const SocketAddress& address) {
  // SO_SNDTIMEO bounds a blocking connect; left set, it is inert once the fd is non-blocking.
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &kUnixBacklogWait, sizeof kUnixBacklogWait);
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  const int rc = ::connect(fd, address.get(), address.length);
  const int err = errno;
  ::fcntl(fd, F_SETFL, flags);
  errno = err;
  return rc;
}

}  // namespace

UniqueFd start_connect(const SocketAddress& address, const SocketAddress* source) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  if (!address.is_unix()) set_nodelay(fd.get());  // a Unix socket has no TCP options
  if (source != nullptr && !address.is_unix()) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd.get(), source->get(), source->length) != 0) {
      const int err = errno;
      fd.reset();
      errno = err;
      return fd;
    }
  }
  int rc = ::connect(fd.get(), address.get(), address.length);
  if (rc != 0 && errno == EAGAIN && address.is_unix()) rc = wait_for_unix_backlog(fd.get(), address);
  if (rc != 0 && errno != EINPROGRESS) {
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
