#include "backends/readiness_loop.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/acceptor.hpp"
#include "core/byte_buffer.hpp"
#include "core/clock.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

// Stop reading from a client that does not read its replies once this much output is queued.
constexpr std::size_t kOutputHighWater = 4 * 1024 * 1024;
constexpr int kAcceptBurst = 256;  // per wake-up, so a connect storm cannot starve live clients
constexpr int kAcceptPauseMs = 100;

struct Connection {
  UniqueFd fd;
  unsigned mask = 0;
  bool closing = false;  // peer closed its side or broke the protocol: flush, then close
  std::unique_ptr<ServerCodec> codec;
  ByteBuffer out;
};

class ReadinessLoop {
 public:
  ReadinessLoop(const ServeContext& ctx, std::unique_ptr<Poller> poller)
      : ctx_(ctx), poller_(std::move(poller)), acceptor_(ctx.listen_fd), scratch_(ctx.read_size), events_(1024) {}

  ~ReadinessLoop() {
    for (auto& c : conns_)
      if (c) close(*c);
  }

  void run() {
    poller_->set_interest(ctx_.stop_fd, 0, Poller::kRead);
    poller_->set_interest(ctx_.listen_fd, 0, Poller::kRead);
    for (;;) {
      const int n = poller_->wait(events_, accept_paused_ ? kAcceptPauseMs : -1);
      if (accept_paused_ && now_ns() >= accept_resume_ns_) {
        accept_paused_ = false;
        poller_->set_interest(ctx_.listen_fd, 0, Poller::kRead);
      }
      for (int i = 0; i < n; ++i) {
        const auto [fd, mask] = events_[static_cast<std::size_t>(i)];
        if (fd == ctx_.stop_fd) return;
        if (fd == ctx_.listen_fd) {
          accept_burst();
          continue;
        }
        Connection* c = lookup(fd);
        if (c == nullptr) continue;  // closed earlier in this batch
        if (mask & Poller::kRead) on_readable(*c);
        if ((c = lookup(fd)) != nullptr && (mask & Poller::kWrite)) flush(*c);
      }
    }
  }

 private:
  Connection* lookup(int fd) { return static_cast<std::size_t>(fd) < conns_.size() ? conns_[fd].get() : nullptr; }

  void accept_burst() {
    for (int i = 0; i < kAcceptBurst; ++i) {
      const auto [outcome, fd] = acceptor_.accept_one();
      if (outcome == Acceptor::Outcome::empty) return;
      if (outcome == Acceptor::Outcome::dropped) {
        ctx_.counters->dropped_at_accept++;
        continue;
      }
      if (outcome == Acceptor::Outcome::failed) {  // out of fds with no spare, or worse: back off
        poller_->set_interest(ctx_.listen_fd, Poller::kRead, 0);
        accept_paused_ = true;
        accept_resume_ns_ = now_ns() + kAcceptPauseMs * 1'000'000ULL;
        return;
      }
      if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(static_cast<std::size_t>(fd) * 2 + 16);
      auto c = std::make_unique<Connection>();
      c->fd.reset(fd);
      c->codec = ctx_.make_codec();
      conns_[fd] = std::move(c);
      ++live_;
      ctx_.counters->accepted++;
      update_interest(*conns_[fd]);
      // select and poll report every ready fd in one call: keep room for all of them.
      if (events_.size() < live_ + 2) events_.resize(live_ * 2 + 2);
    }
  }

  void on_readable(Connection& c) {
    for (;;) {
      const ssize_t n = ::recv(c.fd.get(), scratch_.data(), scratch_.size(), 0);
      if (n > 0) {
        if (!c.codec->on_bytes({scratch_.data(), static_cast<std::size_t>(n)}, c.out)) {
          if (c.codec->broke_protocol()) ctx_.counters->protocol_errors++;
          c.closing = true;
        }
        flush(c);
        return;
      }
      if (n == 0) {  // peer finished sending: answer what it sent, then close
        c.closing = true;
        flush(c);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      ctx_.counters->resets++;
      close(c);
      return;
    }
  }

  // Writes queued output now (no wait for writability first: the socket buffer almost always
  // has room), and asks for write readiness only while something is left.
  void flush(Connection& c) {
    while (!c.out.empty()) {
      const auto bytes = c.out.readable();
      const ssize_t n = ::send(c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.consume(static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        ctx_.counters->resets++;
        close(c);
        return;
      }
    }
    if (c.closing && c.out.empty()) {
      close(c);
      return;
    }
    update_interest(c);
  }

  void update_interest(Connection& c) {
    unsigned want = 0;
    if (!c.closing && c.out.size() < kOutputHighWater) want |= Poller::kRead;
    if (!c.out.empty()) want |= Poller::kWrite;
    if (want != c.mask) {
      poller_->set_interest(c.fd.get(), c.mask, want);
      c.mask = want;
    }
  }

  void close(Connection& c) {
    const int fd = c.fd.get();
    if (c.mask != 0) poller_->set_interest(fd, c.mask, 0);
    ctx_.counters->requests += c.codec->requests();
    ctx_.counters->closed++;
    --live_;
    conns_[fd].reset();  // destroys c: closes the fd
  }

  ServeContext ctx_;
  std::unique_ptr<Poller> poller_;
  Acceptor acceptor_;
  std::vector<char> scratch_;  // one for all connections: every read is handed to a codec at once
  std::vector<Poller::Event> events_;
  std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
  std::size_t live_ = 0;
  bool accept_paused_ = false;
  std::uint64_t accept_resume_ns_ = 0;
};

class ReadinessBackend final : public Backend {
 public:
  ReadinessBackend(std::string_view name, PollerFactory make_poller) : name_(name), make_poller_(make_poller) {}
  std::string_view name() const override { return name_; }
  void serve(const ServeContext& ctx) override { ReadinessLoop(ctx, make_poller_()).run(); }

 private:
  std::string_view name_;
  PollerFactory make_poller_;
};

}  // namespace

std::unique_ptr<Backend> make_readiness_backend(std::string_view name, PollerFactory make_poller) {
  return std::make_unique<ReadinessBackend>(name, make_poller);
}

}  // namespace mux
