#pragma once
// The load generator: `threads` LoadThreads (of the I/O model LoadConfig::io), each pinned to
// a core with its share of the connections. All connections are open before the clock starts.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/load_config.hpp"

namespace mux {

class LoadThread;

class LoadGenerator {
 public:
  explicit LoadGenerator(LoadConfig config);
  ~LoadGenerator();  // stops and joins the threads

  // Opens every connection, runs `before_clock` (e.g. waiting until the server has accepted
  // them all), then starts the clock. Throws UsageError (one line) when the target cannot be
  // reached; no thread is left running then.
  void start(const std::function<void()>& before_clock = {});
  // start() in two steps, for several load processes started together: connect() opens every
  // connection (throws as start() does); start_at() starts the clock at `start_ns`
  // (CLOCK_MONOTONIC, shared by every process of the host), now or later: the threads wait.
  void connect();
  void start_at(std::uint64_t start_ns);
  std::uint64_t start_ns() const { return start_ns_; }
  std::uint64_t measure_start_ns() const { return measure_ns_; }
  std::uint64_t end_ns() const { return end_ns_; }

  // Ctrl-C, or the server died: the measured interval ends now (the first call wins), and
  // every thread stops at its next wake-up (within 50 ms), counting nothing after this moment.
  void request_stop();
  void request_stop_at(std::uint64_t stop_ns);  // the same at a given instant (the first call wins)
  // The interval the threads counted replies in, in ns: [measure_start, min(end, stop)),
  // empty when stopped before it began. Throughput is requests over exactly this.
  struct Window {
    std::uint64_t begin_ns, end_ns;
    double seconds() const { return static_cast<double>(end_ns - begin_ns) / 1e9; }
  };
  Window measured_window() const;
  // Replies completed and errors so far, all threads (for a live progress line).
  std::uint64_t completed_so_far() const;
  std::uint64_t errors_so_far() const;
  // Waits for the threads and merges what they measured.
  LoadResult join();

 private:
  LoadConfig config_;
  std::atomic<std::uint64_t> stop_ns_;  // kNotStopped until request_stop()
  std::atomic<bool> go_{false};
  std::vector<std::unique_ptr<LoadThread>> clients_;
  std::vector<std::string> connect_errors_;
  std::vector<std::jthread> threads_;
  std::uint64_t start_ns_ = 0, measure_ns_ = 0, end_ns_ = 0;
};

}  // namespace mux
