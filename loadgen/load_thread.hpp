#pragma once
// One load-generator thread: its share of the connections on its own event loop.
//  - Closed loop: each connection keeps `pipeline` requests in flight and issues the next the
//    moment a reply has been received and verified.
//  - Open loop: each connection follows its own schedule (constant or Poisson), the schedules
//    of all connections interleaving into `rate` requests per second in total, as wrk2 does
//    per thread. A request is timed from when it was due, so a server stall shows up in the
//    latency of every request it delayed, not only in the one it held.
// This class is everything but the I/O: the schedule, the codecs' requests and verification,
// timestamps, intervals, faults and reconnects, churn, idle connections, pipelining. How the
// thread waits, sends and receives is its I/O model's (--loadgen-io): epoll
// (loadgen/epoll_load_thread.cpp) or io_uring (loadgen/uring_load_thread.cpp), through the
// hooks below.
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <vector>

#include "core/protocol.hpp"
#include "core/unique_fd.hpp"
#include "loadgen/load_config.hpp"

namespace mux {

inline constexpr std::uint64_t kNotStopped = ~std::uint64_t{0};

class LoadThread {
 public:
  // The thread of config.io's model. Serves clients [first, first + count) of config.clients,
  // plus `idle` silent connections. `stop_ns`: when the run was stopped early (kNotStopped
  // until then); no reply at or after it is counted.
  static std::unique_ptr<LoadThread> make(const LoadConfig& config, std::size_t first, std::size_t count,
                                          std::size_t idle, const std::atomic<std::uint64_t>& stop_ns);
  virtual ~LoadThread();
  LoadThread(const LoadThread&) = delete;
  LoadThread& operator=(const LoadThread&) = delete;

  // Opens every connection; returns an empty string, or what went wrong (one line). Runs on
  // the thread that then calls run() (an io_uring ring belongs to the thread that set it up).
  std::string connect_all(std::uint64_t deadline_ns);
  // Sends load from start_ns, records replies completed in [measure_ns, min(end_ns, stop_ns)),
  // stops at end_ns or stop_ns.
  void run(std::uint64_t start_ns, std::uint64_t measure_ns, std::uint64_t end_ns);
  const LoadResult& result() const { return result_; }
  // For a live progress line, readable from another thread while run() goes on.
  std::uint64_t completed_so_far() const { return progress_completed_.load(std::memory_order_relaxed); }
  std::uint64_t errors_so_far() const { return progress_errors_.load(std::memory_order_relaxed); }

 protected:
  LoadThread(const LoadConfig& config, std::size_t first, std::size_t count, std::size_t idle,
             const std::atomic<std::uint64_t>& stop_ns);

  struct Connection;  // loadgen/load_connection.hpp

  // --- The I/O model ---------------------------------------------------------------------------
  // Waits at most `timeout_ns` for I/O and hands what happened to the handlers below.
  virtual void wait(std::uint64_t timeout_ns) = 0;
  // c.fd has a connect under way: call on_connect_done(c) when it has ended.
  virtual void watch_connect(Connection& c) = 0;
  // c is established and the run is on: from now on, hand its bytes to on_bytes() (called again
  // for a connection already watched: nothing changes).
  virtual void watch_replies(Connection& c) = 0;
  // Sends what is issued and not yet written (pending_iov(), then sent()), as much as the
  // socket takes now; the rest when it takes more. Only for a ready connection.
  virtual void send(Connection& c) = 0;
  // c.fd is closed right after this: nothing of the I/O model may refer to it any more.
  virtual void forget(Connection& c) = 0;
  // The thread is done with its I/O (run() has ended, or connect_all() failed): whatever the
  // I/O model still has under way ends here, on this thread.
  virtual void finish_io() {}

  // --- What the I/O model calls ----------------------------------------------------------------
  void on_connect_done(Connection& c);
  // Bytes received on c, checked against its requests; a reply completed is timestamped now:
  // when the I/O model handed it over (epoll: right after recv() returned; io_uring: as its
  // completion is reaped).
  void on_bytes(Connection& c, std::span<const char> bytes);
  // The peer closed c or it broke (recv or send failed): a reset, counted and reconnected.
  void on_broken(Connection& c);
  // The iovecs of what is issued and not yet written, up to `max` (at least 2); how many.
  int pending_iov(const Connection& c, iovec* iov, int max) const;
  // `bytes` of the pending requests were written.
  void sent(Connection& c, std::size_t bytes);
  // These four: loadgen/load_connection.hpp (they need the whole Connection).
  bool has_unsent(const Connection& c) const;
  std::size_t index_of(const Connection& c) const;
  Connection& connection(std::size_t index);
  std::size_t connection_count() const;
  const LoadConfig& config() const { return config_; }

 private:
  enum class Fault { reset, mismatch, timeout };
  struct Timer {
    std::uint64_t due_ns;
    std::size_t conn;
    bool operator>(const Timer& o) const { return due_ns > o.due_ns; }
  };

  std::string open_connections(std::uint64_t deadline_ns);
  bool open_loop() const { return config_.rate > 0; }
  void advance_schedule(Connection& c);
  void issue_due(Connection& c, std::uint64_t now);
  void on_reply(Connection& c, std::uint64_t now);
  void flush(Connection& c);
  void fail(Connection& c, Fault fault, std::uint64_t now);
  void back_off(Connection& c, std::uint64_t now);
  void reopen(Connection& c, std::uint64_t now);
  const SocketAddress* source_for(std::size_t index) const;
  void on_connected(Connection& c, std::uint64_t now);
  void fire_timers(std::uint64_t now);
  void housekeeping(std::uint64_t now);
  Interval* interval_at(std::uint64_t now);
  bool stopped(std::uint64_t now) const { return now >= stop_ns_.load(std::memory_order_acquire); }

  const LoadConfig& config_;
  const std::atomic<std::uint64_t>& stop_ns_;
  std::size_t first_;
  std::unique_ptr<ClientProtocol> protocol_;
  std::vector<Connection> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  bool running_ = false;       // run() has begun: connect_all() is over
  std::string connect_error_;  // connect_all(): the first connect that failed
  std::uint64_t schedule_origin_ns_ = 0;
  std::uint64_t measure_ns_ = 0;
  std::uint64_t end_ns_ = 0;
  std::uint64_t timeout_ns_;
  std::uint64_t work_split_ns_;  // drawn work: requests above it are "long"
  LoadResult result_;
  std::uint64_t completed_ = 0;
  std::uint64_t sent_ = 0;
  std::atomic<std::uint64_t> progress_completed_{0};
  std::atomic<std::uint64_t> progress_errors_{0};
};

// The two I/O models (loadgen/epoll_load_thread.cpp, loadgen/uring_load_thread.cpp).
std::unique_ptr<LoadThread> make_epoll_load_thread(const LoadConfig& config, std::size_t first, std::size_t count,
                                                   std::size_t idle, const std::atomic<std::uint64_t>& stop_ns);
std::unique_ptr<LoadThread> make_uring_load_thread(const LoadConfig& config, std::size_t first, std::size_t count,
                                                   std::size_t idle, const std::atomic<std::uint64_t>& stop_ns);

}  // namespace mux
