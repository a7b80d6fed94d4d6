#pragma once
// A one-connection echo server on 127.0.0.1 for `bench load` to drive: outside any muxbench
// process (so perf(1) and the kernel counters see only `bench load`), echoing bytes as they
// come. Optionally it stops answering once, for `stall`, after `stall_after` bytes: a known,
// deterministic stall.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/unique_fd.hpp"

namespace mux::test {

class OneConnectionEchoServer {
 public:
  struct Stall {
    std::size_t after_bytes;
    std::chrono::milliseconds duration;
  };

  explicit OneConnectionEchoServer(std::optional<Stall> stall = std::nullopt)
      : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_.get(), 16) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("one-connection echo server: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::jthread([this, stall] { serve(stall); });
  }
  ~OneConnectionEchoServer() { ::shutdown(listener_.get(), SHUT_RDWR); }
  int port() const { return port_; }
  bool stalled() const { return stalled_.load(); }

 private:
  void serve(std::optional<Stall> stall) {
    UniqueFd conn(::accept(listener_.get(), nullptr, nullptr));
    if (!conn) return;
    char buf[65536];
    std::size_t echoed = 0;
    for (ssize_t n; (n = ::recv(conn.get(), buf, sizeof buf, 0)) > 0;) {
      if (stall && !stalled_ && echoed >= stall->after_bytes) {
        std::this_thread::sleep_for(stall->duration);
        stalled_ = true;
      }
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::send(conn.get(), buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) return;
        off += w;
      }
      echoed += static_cast<std::size_t>(n);
    }
  }

  UniqueFd listener_;
  int port_ = 0;
  std::atomic<bool> stalled_{false};
  std::jthread thread_;
};

}  // namespace mux::test
