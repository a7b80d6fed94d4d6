#pragma once
// One load connection's state, as LoadThread's files (load_thread.cpp, load_thread_faults.cpp)
// share it.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/protocol.hpp"
#include "core/unique_fd.hpp"
#include "loadgen/load_thread.hpp"

namespace mux {

// Requests of a connection are numbered; [recv_seq, next_issue) are in flight, of which
// [send_seq, next_issue) are not fully written yet.
struct LoadThread::Connection {
  enum class State : std::uint8_t { connecting, ready, backoff };
  struct Issued {
    std::uint64_t due_ns;   // when the schedule wanted it sent
    std::uint64_t sent_ns;  // when it was handed to the I/O model to send
  };
  UniqueFd fd;
  State state = State::backoff;
  bool idle = false;               // --idle: held open, never sends
  bool churning = false;           // --churn: closed on purpose, the reconnect is measured
  std::unique_ptr<ClientCodec> codec;
  std::uint64_t next_issue = 0;
  std::uint64_t send_seq = 0;
  std::size_t send_pos = 0;
  std::uint64_t recv_seq = 0;
  std::size_t reply_bytes = 0;     // of the reply being received, verified so far
  std::uint64_t since_ns = 0;      // connect started, or back-off started
  std::uint64_t issued_here = 0;   // requests issued on this TCP connection (for --churn)
  std::uint64_t next_due_ns = 0;   // open loop: when the next request is due
  std::uint64_t scheduled = 0;     // open loop: requests scheduled so far
  std::uint64_t timer_due_ns = 0;  // the timer queued for this connection, 0 if none
  std::uint64_t random_state = 0;
  std::vector<Issued> issued;      // by seq % pipeline
};

inline bool LoadThread::has_unsent(const Connection& c) const { return c.send_seq < c.next_issue; }
inline std::size_t LoadThread::index_of(const Connection& c) const { return static_cast<std::size_t>(&c - conns_.data()); }
inline LoadThread::Connection& LoadThread::connection(std::size_t index) { return conns_[index]; }
inline std::size_t LoadThread::connection_count() const { return conns_.size(); }

}  // namespace mux
