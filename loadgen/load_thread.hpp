#pragma once
// One load-generator thread: its share of the connections on its own epoll loop.
//  - Closed loop: each connection keeps `pipeline` requests in flight and issues the next the
//    moment a reply has been received and verified.
//  - Open loop: each connection follows its own schedule (constant or Poisson), the schedules
//    of all connections interleaving into `rate` requests per second in total, as wrk2 does
//    per thread. A request is timed from when it was due, so a server stall shows up in the
//    latency of every request it delayed, not only in the one it held.
#include <atomic>
#include <cstdint>
#include <functional>
#include <queue>
#include <string>
#include <vector>

#include "core/protocol.hpp"
#include "core/unique_fd.hpp"
#include "loadgen/load_config.hpp"

namespace mux {

inline constexpr std::uint64_t kNotStopped = ~std::uint64_t{0};

class LoadThread {
 public:
  // Serves clients [first, first + count) of config.clients, plus `idle` silent connections.
  // `stop_ns`: when the run was stopped early (kNotStopped until then); no reply at or after
  // it is counted.
  LoadThread(const LoadConfig& config, std::size_t first, std::size_t count, std::size_t idle,
             const std::atomic<std::uint64_t>& stop_ns);
  ~LoadThread();

  // Opens every connection; returns an empty string, or what went wrong (one line).
  std::string connect_all(std::uint64_t deadline_ns);
  // Sends load from start_ns, records replies completed in [measure_ns, min(end_ns, stop_ns)),
  // stops at end_ns or stop_ns.
  void run(std::uint64_t start_ns, std::uint64_t measure_ns, std::uint64_t end_ns);
  const LoadResult& result() const { return result_; }
  // For a live progress line, readable from another thread while run() goes on.
  std::uint64_t completed_so_far() const { return progress_completed_.load(std::memory_order_relaxed); }
  std::uint64_t errors_so_far() const { return progress_errors_.load(std::memory_order_relaxed); }

 private:
  struct Connection;
  enum class Fault { reset, mismatch, timeout };
  struct Timer {
    std::uint64_t due_ns;
    std::size_t conn;
    bool operator>(const Timer& o) const { return due_ns > o.due_ns; }
  };

  bool open_loop() const { return config_.rate > 0; }
  void advance_schedule(Connection& c);
  void issue_due(Connection& c, std::uint64_t now);
  void on_readable(Connection& c);
  void on_reply(Connection& c, std::uint64_t now);
  void flush(Connection& c);
  void fail(Connection& c, Fault fault, std::uint64_t now);
  void back_off(Connection& c, std::uint64_t now);
  void reopen(Connection& c, std::uint64_t now);
  const SocketAddress* source_for(std::size_t index) const;
  void on_connected(Connection& c, std::uint64_t now);
  void fire_timers(std::uint64_t now);
  void housekeeping(std::uint64_t now);
  void watch(Connection& c, std::uint32_t events);
  Interval* interval_at(std::uint64_t now);
  bool stopped(std::uint64_t now) const { return now >= stop_ns_.load(std::memory_order_acquire); }

  const LoadConfig& config_;
  const std::atomic<std::uint64_t>& stop_ns_;
  std::size_t first_;
  std::unique_ptr<ClientProtocol> protocol_;
  UniqueFd epoll_;
  std::vector<Connection> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::vector<char> scratch_;
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

}  // namespace mux
