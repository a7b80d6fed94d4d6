#pragma once
// What every I/O model does for a connection, written once (as Redis keeps its connection
// handling apart from ae's pollers, and libevent its bufferevents apart from its backends):
// the codec and its output, protocol-error and request accounting, the output high-water mark,
// the close bookkeeping, and the accept outcomes with the EMFILE pause. A backend keeps only
// what is its own: how it waits, how it reads and writes, and when it frees a socket.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "backends/backend.hpp"
#include "core/acceptor.hpp"
#include "core/byte_buffer.hpp"

namespace mux {

// Backpressure, in every event loop: a connection is not read from while this much of its
// output is queued (a client that does not read its replies cannot grow the server's memory).
inline constexpr std::size_t kOutputHighWater = 4 * 1024 * 1024;

// Out of fds with no spare fd left to drop a connection with: accepting again at once would
// fail again and spin, so every model stops accepting this long.
inline constexpr int kAcceptPauseMs = 100;

// How a connection ended, for the counters: its peer reset it (a receive or send failed), or
// it finished (answered and flushed, or the server stopped).
enum class Ending : std::uint8_t { finished, reset };

// One served connection's state, whatever the model: opening it counts it accepted; closing it
// counts its requests, the close, and a reset. Backends derive their connection from it.
class ConnectionCore {
 public:
  // Makes the connection's codec and counts it accepted. `out_keep_capacity`: what the output
  // buffer keeps when it empties (ByteBuffer's constructor).
  explicit ConnectionCore(const ServeContext& ctx, std::size_t out_keep_capacity = ByteBuffer::kDefaultKeepCapacity);
  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;

  // Hands received bytes to the codec, which appends its replies to `out`. When the codec asks
  // to close (a protocol error, counted, or the peer's own request) the connection drains:
  // what arrives after that is dropped unanswered. Returns false once draining.
  bool take_input(std::span<const char> bytes);
  // The peer finished sending (a receive returned 0): answer what it sent, then close.
  void end_of_input() { draining_ = true; }
  // No more input is answered: close once `out` (and whatever the model sends from) is flushed.
  bool draining() const { return draining_; }
  // Whether the model may read more: not while draining or closed, nor while the queued output
  // (`out` plus `also_queued`, bytes the model took from `out` and has not sent yet) has
  // reached the high-water mark.
  bool wants_input(std::size_t also_queued = 0) const {
    return !draining_ && !closed_ && out.size() + also_queued < kOutputHighWater;
  }

  // Counts the connection closed (its requests, and a reset if it ended so), once: returns
  // false when it was counted already. The model closes or frees its socket itself.
  bool mark_closed(Ending how = Ending::finished);
  bool closed() const { return closed_; }

  ByteBuffer out;  // replies, queued for the model to send

 private:
  ServerCounters* counters_;
  std::unique_ptr<ServerCodec> codec_;
  bool draining_ = false;
  bool closed_ = false;
};

// The Acceptor (core/acceptor.hpp) with its outcomes counted: a connection dropped at EMFILE is
// counted here, and each model hears only "serve this fd", "empty", or "pause" (kAcceptPauseMs).
class ServerAcceptor {
 public:
  ServerAcceptor(int listen_fd, ServerCounters& counters) : acceptor_(listen_fd), counters_(&counters) {}

  enum class Stop : std::uint8_t {
    empty,   // the backlog is empty
    budget,  // `budget` accept attempts made; more may be waiting
    pause,   // out of fds with no spare, or worse: stop accepting for kAcceptPauseMs
  };
  // Accepts until one of Stop, at most `budget` attempts (a dropped connection is one: a
  // connect storm at EMFILE cannot keep a loop from its clients), passing each fd to `serve`.
  template <typename Serve>
  Stop accept_burst(int budget, Serve&& serve) {
    for (int i = 0; i < budget; ++i) {
      const auto [outcome, fd] = acceptor_.accept_one();
      switch (outcome) {
        case Acceptor::Outcome::accepted: serve(fd); break;
        case Acceptor::Outcome::dropped: counters_->dropped_at_accept++; break;
        case Acceptor::Outcome::empty: return Stop::empty;
        case Acceptor::Outcome::failed: return Stop::pause;
      }
    }
    return Stop::budget;
  }
  // An accept error someone else saw (an io_uring accept completion): true when accepting
  // must pause for kAcceptPauseMs; false when a pending connection was dropped (counted) and
  // accepting goes on.
  bool must_pause_after(int err);
  // For a model with a thread to spare for accepting (threads, --accept=handoff's acceptor):
  // poll(2) on the listener and `stop_fd`, passing each accepted fd to `serve`, until
  // `stop_fd` is readable. Throws std::runtime_error when poll(2) fails.
  template <typename Serve>
  void accept_until_stopped(int stop_fd, Serve&& serve) {
    while (wait_for_listener(stop_fd))
      paused_ = accept_burst(kUnlimited, serve) == Stop::pause;
  }
  // A connection's fd was closed: see Acceptor::restore_spare().
  void restore_spare() { acceptor_.restore_spare(); }

 private:
  static constexpr int kUnlimited = 1 << 30;
  // accept_until_stopped's wait: false once stop_fd is readable. While paused the listener is
  // not watched, and the wait ends after kAcceptPauseMs.
  bool wait_for_listener(int stop_fd);

  Acceptor acceptor_;
  ServerCounters* counters_;
  bool paused_ = false;
};

}  // namespace mux
