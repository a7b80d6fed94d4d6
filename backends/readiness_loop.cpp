#include "backends/readiness_loop.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "backends/connection_core.hpp"
#include "core/clock.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

constexpr int kAcceptBurst = 256;  // per wake-up, so a connect storm cannot starve live clients
// Edge-triggered pollers: reads per connection per wake-up. A connection with more to read after
// its budget waits its turn in a round-robin queue, so one busy client cannot starve the rest.
constexpr int kReadBudget = 16;

struct Connection : ConnectionCore {
  // The socket comes owned: it is closed even if making the codec throws.
  Connection(const ServeContext& ctx, UniqueFd socket) : ConnectionCore(ctx), fd(std::move(socket)) {}
  UniqueFd fd;
  unsigned mask = 0;
  bool unfinished = false;  // edge-triggered: budget spent before EAGAIN, queued in unfinished_
};

class ReadinessLoop {
 public:
  ReadinessLoop(const ServeContext& ctx, std::unique_ptr<Poller> poller)
      : ctx_(ctx),
        poller_(std::move(poller)),
        edge_triggered_(poller_->edge_triggered()),
        acceptor_(ctx.listen_fd, *ctx.counters),
        scratch_(ctx.knobs.read_size),
        events_(1024) {}

  ~ReadinessLoop() {
    for (auto& c : conns_)
      if (c) close(*c);
  }

  void run() {
    poller_->set_interest(ctx_.stop_fd, 0, Poller::kRead);
    if (ctx_.listen_fd >= 0) poller_->watch_listener(ctx_.listen_fd, true);
    if (ctx_.handoff_fd >= 0) poller_->set_interest(ctx_.handoff_fd, 0, Poller::kRead);
    if (ctx_.started != nullptr) *ctx_.started = true;
    for (;;) {
      // Edge-triggered: what was left unread last round is served after this round's news; the
      // wait must not block while anything is left.
      // (Two vectors swapped, not a fresh container: no allocation per wake-up.)
      carried_.clear();
      carried_.swap(unfinished_);
      const bool accept_carried = std::exchange(accept_unfinished_, false);
      const bool work_left = accept_carried || !carried_.empty();
      const int n = poller_->wait(events_, work_left ? 0 : accept_paused_ ? kAcceptPauseMs : -1);
      if (accept_paused_ && now_ns() >= accept_resume_ns_) {
        accept_paused_ = false;
        poller_->watch_listener(ctx_.listen_fd, true);
      }
      for (int i = 0; i < n; ++i) {
        const auto [fd, mask] = events_[static_cast<std::size_t>(i)];
        if (fd == ctx_.stop_fd) return;
        if (fd == ctx_.listen_fd) {
          accept_burst();
          continue;
        }
        if (fd == ctx_.handoff_fd) {
          take_handoffs();
          continue;
        }
        Connection* c = lookup(fd);
        if (c == nullptr) continue;  // closed earlier in this batch
        if (mask & Poller::kRead) on_readable(*c);
        if ((c = lookup(fd)) != nullptr && (mask & Poller::kWrite)) flush(*c);
      }
      if (accept_carried && !accept_paused_) accept_burst();
      serve_carried();
    }
  }

 private:
  Connection* lookup(int fd) { return static_cast<std::size_t>(fd) < conns_.size() ? conns_[fd].get() : nullptr; }

  // Edge-triggered, the listening socket is reported once per change: a burst that ends before
  // EAGAIN is resumed next round (accept_unfinished_).
  void accept_burst() {
    switch (acceptor_.accept_burst(kAcceptBurst, [this](int fd) { adopt(fd); })) {
      case ServerAcceptor::Stop::empty: break;
      case ServerAcceptor::Stop::budget: accept_unfinished_ = edge_triggered_; break;
      case ServerAcceptor::Stop::pause:
        poller_->watch_listener(ctx_.listen_fd, false);
        accept_paused_ = true;
        accept_resume_ns_ = now_ns() + kAcceptPauseMs * 1'000'000ULL;
        break;
    }
  }

  // --accept=handoff: connections accepted by the acceptor thread, one int per fd on the pipe.
  // Read until EAGAIN: an edge-triggered poller reports the pipe once per change.
  void take_handoffs() {
    take_handed_off_fds(ctx_.handoff_fd, [this](int fd) { adopt(fd); });
  }

  void adopt(int fd) {
    if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(static_cast<std::size_t>(fd) * 2 + 16);
    conns_[fd] = std::make_unique<Connection>(ctx_, UniqueFd(fd));
    ++live_;
    update_interest(*conns_[fd]);
    // select and poll report every ready fd in one call: keep room for all of them.
    if (events_.size() < live_ + 2) events_.resize(live_ * 2 + 2);
  }

  // Level-triggered: one read, and the poller reports the rest. Edge-triggered: reads until
  // EAGAIN, at most kReadBudget times; a connection with more waits in unfinished_.
  void on_readable(Connection& c) {
    const int budget = edge_triggered_ ? kReadBudget : 1;
    for (int reads = 0; c.wants_input();) {
      if (reads == budget) {
        if (edge_triggered_ && !std::exchange(c.unfinished, true)) unfinished_.push_back(c.fd.get());
        break;
      }
      const ssize_t n = ::recv(c.fd.get(), scratch_.data(), scratch_.size(), 0);
      if (n > 0) {
        ++reads;
        c.take_input({scratch_.data(), static_cast<std::size_t>(n)});
        continue;
      }
      if (n == 0) {
        c.end_of_input();
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close(c, Ending::reset);
      return;
    }
    // Stopped at the output high-water mark: reading resumes when flush() asks for input again
    // (an edge-triggered poller re-reports a readable socket when its interest changes).
    flush(c);
  }

  // The round-robin turn of connections whose budget ran out last round. A connection closed
  // since (its fd perhaps reused by a new one) is no longer marked unfinished and is skipped.
  void serve_carried() {
    for (const int fd : carried_) {
      Connection* c = lookup(fd);
      if (c == nullptr || !std::exchange(c->unfinished, false)) continue;
      if (c->mask & Poller::kRead) on_readable(*c);
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
        close(c, Ending::reset);
        return;
      }
    }
    if (c.draining() && c.out.empty()) {
      close(c);
      return;
    }
    update_interest(c);
  }

  void update_interest(Connection& c) {
    unsigned want = 0;
    if (c.wants_input()) want |= Poller::kRead;
    if (!c.out.empty()) want |= Poller::kWrite;
    if (want != c.mask) {
      poller_->set_interest(c.fd.get(), c.mask, want);
      c.mask = want;
    }
  }

  void close(Connection& c, Ending how = Ending::finished) {
    const int fd = c.fd.get();
    if (c.mask != 0) poller_->set_interest(fd, c.mask, 0);
    c.mark_closed(how);
    --live_;
    conns_[fd].reset();  // destroys c: closes the fd
    acceptor_.restore_spare();
  }

  ServeContext ctx_;
  std::unique_ptr<Poller> poller_;
  bool edge_triggered_;
  ServerAcceptor acceptor_;
  std::vector<char> scratch_;  // one for all connections: every read is handed to a codec at once
  std::vector<Poller::Event> events_;
  std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
  std::size_t live_ = 0;
  std::vector<int> unfinished_;    // edge-triggered: fds with input left after their budget
  std::vector<int> carried_;       // last round's unfinished_, served this round
  bool accept_unfinished_ = false; // edge-triggered: the last accept burst ended before EAGAIN
  bool accept_paused_ = false;
  std::uint64_t accept_resume_ns_ = 0;
};

class ReadinessBackend final : public Backend {
 public:
  explicit ReadinessBackend(PollerFactory make_poller) : make_poller_(make_poller) {}
  void serve(const ServeContext& ctx) override { ReadinessLoop(ctx, make_poller_()).run(); }

 private:
  PollerFactory make_poller_;
};

}  // namespace

std::unique_ptr<Backend> make_readiness_backend(PollerFactory make_poller) {
  return std::make_unique<ReadinessBackend>(make_poller);
}

}  // namespace mux
