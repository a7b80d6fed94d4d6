#pragma once
// Test clients: plain blocking sockets with timeouts, and one echo or HTTP round trip.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/unique_fd.hpp"

namespace mux::test {

inline void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A blocking TCP_NODELAY connection to 127.0.0.1:port with 10 s send and receive timeouts;
// an empty UniqueFd when the connect fails. The timeouts are liveness bounds: a server that
// stopped answering never answers, while a busy machine may keep a live one off its core for a
// while; a longer bound only makes a failing test take longer.
inline UniqueFd connect_to(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return {};
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_timeouts(fd.get(), std::chrono::milliseconds(10000));
  return fd;
}

// Closes with a reset (SO_LINGER {1, 0}) instead of a FIN.
inline void close_with_reset(UniqueFd& fd) {
  const linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

inline bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads exactly `n` bytes (within the socket's receive timeout per read). Short on EOF or error;
// `error` then holds "EOF" or the errno text.
inline std::string recv_exactly(int fd, std::size_t n, std::string* error = nullptr) {
  std::string got(n, '\0');
  std::size_t have = 0;
  while (have < n) {
    const ssize_t r = ::recv(fd, got.data() + have, n - have, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (error) *error = r == 0 ? "EOF" : std::strerror(errno);
      break;
    }
    have += static_cast<std::size_t>(r);
  }
  got.resize(have);
  return got;
}

// Everything until the peer closes (EOF or a reset); `how` tells which ("EOF", "reset",
// "timeout", ...).
inline std::string recv_until_closed(int fd, std::string* how = nullptr) {
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r > 0) {
      got.append(buf, static_cast<std::size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (how) *how = r == 0 ? "EOF" : errno == ECONNRESET ? "reset" : (errno == EAGAIN ? "timeout" : std::strerror(errno));
    return got;
  }
}

inline std::string echo_frame(std::size_t payload_size, unsigned seed) {
  std::string f(4 + payload_size, '\0');
  const auto n = static_cast<std::uint32_t>(payload_size);
  f[0] = static_cast<char>(n >> 24);
  f[1] = static_cast<char>(n >> 16);
  f[2] = static_cast<char>(n >> 8);
  f[3] = static_cast<char>(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 4; i < f.size(); ++i) {
    x = x * 1664525u + 1013904223u;
    f[i] = static_cast<char>(x >> 24);
  }
  return f;
}

// One verified echo round trip on `fd`.
inline ::testing::AssertionResult echo_round_trip(int fd, std::size_t payload_size = 1000, unsigned seed = 1) {
  if (fd < 0) return ::testing::AssertionFailure() << "not connected";
  const std::string frame = echo_frame(payload_size, seed);
  if (!send_all(fd, frame)) return ::testing::AssertionFailure() << "send: " << std::strerror(errno);
  std::string error;
  const std::string got = recv_exactly(fd, frame.size(), &error);
  if (got.size() != frame.size())
    return ::testing::AssertionFailure() << "echo cut short after " << got.size() << " of " << frame.size()
                                         << " bytes: " << error;
  if (got != frame) return ::testing::AssertionFailure() << "echo differs from what was sent";
  return ::testing::AssertionSuccess();
}

// One GET and its complete 200 response on `fd`.
inline ::testing::AssertionResult http_round_trip(int fd) {
  if (fd < 0) return ::testing::AssertionFailure() << "not connected";
  if (!send_all(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
    return ::testing::AssertionFailure() << "send: " << std::strerror(errno);
  std::string got;
  char buf[4096];
  for (;;) {
    const auto head_end = got.find("\r\n\r\n");
    if (head_end != std::string::npos && got.size() >= head_end + 4 + 13) break;  // Content-Length: 13
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return ::testing::AssertionFailure() << "response cut short (" << (r == 0 ? "EOF" : std::strerror(errno))
                                           << "): " << got;
    got.append(buf, static_cast<std::size_t>(r));
  }
  if (!got.starts_with("HTTP/1.1 200 ") || !got.ends_with("Hello, World!"))
    return ::testing::AssertionFailure() << "unexpected response: " << got;
  return ::testing::AssertionSuccess();
}

}  // namespace mux::test
