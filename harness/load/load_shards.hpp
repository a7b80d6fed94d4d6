#pragma once
// --loadgen-processes=K: the load split over K child processes, each with its own fds and
// threads (RLIMIT_NOFILE applies per process: 30,000 clients need 2). Each child is `bench`
// itself, exec'd as the hidden `bench load-shard` (never fork without exec: bench has threads).
//
// The protocol, one line per message (the children's fds 3 and 4):
//   bench -> child (fd 3):  CONFIG_JSON          its share of the load (loadgen/load_wire.hpp)
//                           start START_NS       one start instant for all (CLOCK_MONOTONIC)
//                           stop STOP_NS         optional: end the measured window then
//   child -> bench (fd 4):  ready | error MESSAGE
//                           result REPORT_JSON   its ShardReport, at the end; then the child exits
// EOF on fd 3 (bench died) stops a child at once; it also dies with bench (PR_SET_PDEATHSIG).
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/unique_fd.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/load/measured_load.hpp"
#include "loadgen/load_generator.hpp"

namespace mux {

// Threads of each of `processes` load processes given `threads` in all: at least one.
inline std::size_t shard_threads(std::size_t threads, std::size_t processes) {
  return std::max<std::size_t>(1, threads / processes);
}

// Process i's share of `config`: clients, idle connections and rate split exactly (the first
// remainder processes take one more), threads max(1, threads / K); CPUs shared, each process
// starting where the previous one's threads ended.
LoadConfig shard_config(const LoadConfig& config, std::size_t processes, std::size_t index);

// Between the last process's "ready" and the common start: time for every one to read it.
inline constexpr std::uint64_t kShardStartMarginNs = 50'000'000;

std::string host_name();  // gethostname()

// One shard's window, measured alike in a load process and an MPI rank: `watch_until(deadline)`
// watches for a stop until the deadline and returns whether one came; CPU and memory are sampled
// at the window's start (memory against `rss0`, taken before connecting) and CPU at its end;
// with `counters`, their snapshots at the same edges. A shard stopped before its window began
// reports no CPU and no counts.
ShardReport measure_shard(LoadGenerator& load, std::size_t clients, double rss0,
                          const std::function<bool(std::uint64_t)>& watch_until, const KernelCounters* counters = nullptr);

class LoadShards final : public MeasuredLoad {
 public:
  // Spawns and configures them; `on_spawn` runs for each right after it is forked (to count it
  // with this side's kernel counters), `on_reap` once it is reaped.
  LoadShards(const LoadConfig& config, std::size_t processes, std::function<void(pid_t)> on_spawn = {},
             std::function<void(pid_t)> on_reap = {});
  ~LoadShards();                                                 // kills and reaps what is left
  LoadShards(const LoadShards&) = delete;
  LoadShards& operator=(const LoadShards&) = delete;

  // As LoadGenerator::start: every process connects (throws UsageError with the first one's
  // error), `before_clock` runs, then all start at one instant.
  void start(const std::function<void()>& before_clock) override;
  std::uint64_t start_ns() const override { return start_ns_; }
  std::uint64_t measure_start_ns() const override { return measure_ns_; }
  std::uint64_t end_ns() const override { return end_ns_; }
  void request_stop() override;  // every process ends its window at this instant
  LoadGenerator::Window measured_window() const override;
  // Non-empty once a process has died without reporting (checked without blocking).
  std::string failure() override;
  // Waits (until `deadline_ns`, then kills) for every process's result.
  std::vector<ShardReport> join(std::uint64_t deadline_ns) override;
  std::optional<std::size_t> own_shard() const override { return std::nullopt; }
  bool coordinator_is_load() const override { return true; }
  const char* parts() const override { return "load processes"; }

 private:
  struct Child {
    pid_t pid = -1;
    UniqueFd control, report;
    std::string pending;  // bytes read from `report`, not yet a whole line
    std::size_t clients = 0;
    bool reaped = false, reported = false;
    int status = 0;
    ShardReport result;
  };
  std::optional<std::string> read_line(Child& child, std::uint64_t deadline_ns);
  void send(Child& child, const std::string& line);
  bool reap(Child& child, bool wait);
  void collect(Child& child, std::uint64_t deadline_ns);  // reads its result line, if it comes
  static std::string describe_exit(const Child& child);

  std::vector<Child> children_;
  double warmup_s_, duration_s_;
  std::function<void(pid_t)> on_reap_;
  std::uint64_t start_ns_ = 0, measure_ns_ = 0, end_ns_ = 0;
  std::uint64_t stop_ns_ = UINT64_MAX;
};

// `bench load-shard`: the child side (started only by LoadShards).
int load_shard_command(int argc, char** argv);

}  // namespace mux
