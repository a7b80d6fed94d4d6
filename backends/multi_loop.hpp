#pragma once
// Several event loops in one process (--server-threads): each loop is one Backend::serve on
// its own thread, pinned to its own core, and gets its connections by one of the --accept
// designs. The backends know nothing of this: a loop is handed a listener, or a handoff pipe
// (ServeContext::handoff_fd). The acceptor of --accept=handoff is here, on core/acceptor's
// Acceptor, so the EMFILE handling stays in one place.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backends/backend.hpp"
#include "core/cpu_set.hpp"

namespace mux {

// What one loop did. Lives in memory shared by the server's processes (SharedLoopRecords), so
// the process that answers `bench` reads every worker's counts as they change.
struct LoopRecord {
  ServerCounters counters;
  std::atomic<std::int32_t> pid{0};      // the process the loop runs in
  std::atomic<std::int32_t> tid{0};      // its thread
  std::atomic<std::int32_t> cpu{-1};     // the core it is pinned to; -1: not pinned
  std::atomic<std::uint64_t> cpu_ns{0};  // the thread's CPU time when the loop ended
  std::atomic<bool> started{false};  // its loop is set up and waiting (ServeContext::started)
  std::atomic<bool> ended{false};
};

// LoopRecords in an anonymous shared mapping, inherited across fork(): std::atomic of 8 bytes
// is lock-free here, so it works between processes.
class SharedLoopRecords {
 public:
  explicit SharedLoopRecords(std::size_t count);
  ~SharedLoopRecords();
  SharedLoopRecords(const SharedLoopRecords&) = delete;
  SharedLoopRecords& operator=(const SharedLoopRecords&) = delete;

  std::span<LoopRecord> all() { return {records_, count_}; }
  std::span<const LoopRecord> all() const { return {records_, count_}; }
  // The acceptor threads' own counts (handoff: connections dropped at accept or refused).
  ServerCounters& acceptors() { return *acceptors_; }
  const ServerCounters& acceptors() const { return *acceptors_; }

 private:
  void* memory_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t count_ = 0;
  ServerCounters* acceptors_ = nullptr;
  LoopRecord* records_ = nullptr;
};

// Sum of one counter over every loop and the acceptors.
std::uint64_t counter_total(const SharedLoopRecords& records, std::atomic<std::uint64_t> ServerCounters::*counter);

struct LoopsPlan {
  Backend* backend;             // serve() runs once per loop, concurrently
  AcceptMode mode;
  std::vector<int> listen_fds;  // reuseport: one per loop; shared and handoff: one
  CpuList cpus;                 // loop i pinned to cpus[i % size]
  int stop_fd;
  ServerCodecFactory make_codec;
  ServerKnobs knobs{};          // each loop's ServeContext::knobs
  std::span<LoopRecord> loops;  // one per loop: how many loops there are
  ServerCounters* acceptor_counters;
  std::function<void()> on_started = {};  // called once every loop has started
};

// Waits until every loop has started; false when stop_fd became readable first (a loop failed,
// or the server was asked to stop) or after 10 s.
bool wait_until_started(std::span<const LoopRecord> loops, int stop_fd);

// Runs the loops until stop_fd is readable. When one loop fails, the others are stopped (the
// stop eventfd is written) and the first failure is rethrown once every thread has ended.
void run_loops(const LoopsPlan& plan);

}  // namespace mux
