#pragma once
// Plain TCP echo peers written for the tests, sharing no code with muxbench's protocols: a
// server (a thread per connection, echoing bytes as they come) that can also misroute, and a
// client (one epoll loop over many connections) that checks every byte it gets back.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"

namespace mux::test {

// Sends all of [data, data + n) on a blocking socket; false on error or close.
inline bool send_everything(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

// Fills `buf` from a blocking socket; false on error or close first.
inline bool recv_everything(int fd, char* buf, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::recv(fd, buf, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// A plain echo server on 127.0.0.1. With `cross`, the connections accepted as number
// `cross->first` and `cross->second` (counting from 0) are crossed: every `frame` bytes one
// sends go to the other, in lockstep, as a server that mixes up two connections would do.
// Every other connection is echoed faithfully.
class TestEchoServer {
 public:
  struct Cross {
    std::size_t first, second;
    std::size_t frame;
  };

  explicit TestEchoServer(std::optional<Cross> cross = std::nullopt) : cross_(cross) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_.get(), 4096) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("test echo server: cannot listen");
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TestEchoServer() {
    stop_ = true;
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (const auto& fd : accepted_) ::shutdown(fd.get(), SHUT_RDWR);  // unblocks every thread
    }
    for (auto& t : threads_) t.join();
  }
  TestEchoServer(const TestEchoServer&) = delete;
  TestEchoServer& operator=(const TestEchoServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mutex_);
      const std::size_t index = accepted_.size();
      accepted_.emplace_back(fd);
      if (cross_ && index == cross_->first) continue;  // waits for its partner
      if (cross_ && index == cross_->second) {
        const int a = accepted_[cross_->first].get();
        threads_.emplace_back([a, fd, frame = cross_->frame] { cross(a, fd, frame); });
        continue;
      }
      threads_.emplace_back([fd] { echo(fd); });
    }
  }

  static void echo(int fd) {
    char buf[16 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !send_everything(fd, buf, static_cast<std::size_t>(n))) return;
    }
  }

  static void cross(int a, int b, std::size_t frame) {
    std::vector<char> from_a(frame), from_b(frame);
    while (recv_everything(a, from_a.data(), frame) && recv_everything(b, from_b.data(), frame) &&
           send_everything(a, from_b.data(), frame) && send_everything(b, from_a.data(), frame)) {
    }
  }

  std::optional<Cross> cross_;
  UniqueFd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<UniqueFd> accepted_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A plain echo client: `connections` connections to 127.0.0.1:port, each sending `rounds`
// chunks of `chunk` bytes of its own (a chunk goes out once the previous one has come back
// whole) and comparing every byte echoed with the byte sent. One epoll loop, non-blocking.
struct EchoClientOutcome {
  std::size_t connected = 0;
  std::size_t finished = 0;    // connections whose every round came back intact
  std::size_t mismatched = 0;  // connections that got a wrong byte
  std::size_t failed = 0;      // closed, reset or refused before finishing
  std::uint64_t bytes_verified = 0;
};

inline char client_byte(std::size_t connection, std::size_t offset) {
  return static_cast<char>((connection * 131 + offset * 7 + (offset >> 8) * 13) & 0xff);
}

inline EchoClientOutcome drive_plain_echo(std::uint16_t port, std::size_t connections, std::size_t chunk,
                                          std::size_t rounds, std::chrono::seconds limit) {
  struct Conn {
    UniqueFd fd;
    std::size_t sent = 0, received = 0;  // bytes of the whole conversation
    std::uint32_t events = 0;
    bool done = false;
  };
  EchoClientOutcome out;
  const std::size_t total = chunk * rounds;
  std::vector<Conn> conns(connections);
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  std::vector<char> buf(64 * 1024), bytes(chunk);

  const auto finish = [&](Conn& c, std::size_t& counter) {
    c.done = true;
    ++counter;
    c.fd.reset();  // closing removes it from epoll
  };
  // Sends what may go now (the current chunk, once the previous one is back) and watches for
  // writability only while some of it is left.
  const auto pump = [&](std::size_t i) {
    Conn& c = conns[i];
    const std::size_t chunk_end = std::min((c.received / chunk + 1) * chunk, total);
    while (c.sent < chunk_end) {
      const std::size_t len = chunk_end - c.sent;
      for (std::size_t j = 0; j < len; ++j) bytes[j] = client_byte(i, c.sent + j);
      const ssize_t s = ::send(c.fd.get(), bytes.data(), len, MSG_NOSIGNAL);
      if (s < 0 && errno == EINTR) continue;
      if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (s <= 0) return finish(c, out.failed);
      c.sent += static_cast<std::size_t>(s);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | (c.sent < chunk_end ? EPOLLOUT : 0u);
    ev.data.u64 = i;
    if (ev.events != c.events) ::epoll_ctl(ep.get(), c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.events = ev.events;
  };
  // Reads what has come back and compares it with what was sent, byte for byte.
  const auto drain = [&](std::size_t i) {
    Conn& c = conns[i];
    for (;;) {
      const ssize_t r = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (r <= 0) return finish(c, out.failed);
      const auto got = static_cast<std::size_t>(r);
      bool same = c.received + got <= c.sent;  // never more than was sent
      for (std::size_t j = 0; same && j < got; ++j) same = buf[j] == client_byte(i, c.received + j);
      if (!same) return finish(c, out.mismatched);
      c.received += got;
      out.bytes_verified += got;
      if (c.received == total) return finish(c, out.finished);
    }
  };

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  for (std::size_t i = 0; i < connections; ++i) {
    Conn& c = conns[i];
    c.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      finish(c, out.failed);
      continue;
    }
    ++out.connected;
    ::fcntl(c.fd.get(), F_SETFL, O_NONBLOCK);
    pump(i);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::vector<epoll_event> ready(1024);
  while (out.finished + out.mismatched + out.failed < connections && std::chrono::steady_clock::now() < deadline) {
    const int n = ::epoll_wait(ep.get(), ready.data(), static_cast<int>(ready.size()), 100);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = ready[static_cast<std::size_t>(k)].data.u64;
      if (!conns[i].done) drain(i);
      if (!conns[i].done) pump(i);
    }
  }
  return out;
}

}  // namespace mux::test
