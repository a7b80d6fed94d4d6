#pragma once
// The load side of a measured run, however it is spread: this process's threads
// (OneProcessLoad), --loadgen-processes children (LoadShards) or MPI ranks (MpiLoad). The
// measured run (harness/run/measurement.cpp) knows only this interface, as it knows the server
// only as a MeasuredServer.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/kernel/kernel_counters.hpp"
#include "loadgen/load_generator.hpp"
#include "loadgen/load_wire.hpp"

namespace mux {

// What one load process measured.
struct ShardReport {
  pid_t pid = 0;
  std::string host;
  std::size_t clients = 0;
  std::optional<LoadResult> load;        // null: the process died before reporting
  std::optional<double> cpu_us;          // its CPU over the measured window
  std::optional<double> memory_bytes;    // its resident growth from start to the window's start
  // What it cost the kernel over its window, counted by itself (an MPI rank; a load process's
  // system calls are counted by bench instead, with the load side's).
  std::optional<KernelSnapshot> kernel;
  std::string failure;                   // why it has no result, if it has none
};
// As a load process or an MPI rank sends it (its failure empty): LoadResult counter by counter.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ShardReport, pid, host, clients, load, cpu_us, memory_bytes, kernel, failure)

class MeasuredLoad {
 public:
  virtual ~MeasuredLoad() = default;

  // Opens every connection (throws UsageError naming the first that failed), runs
  // `before_clock`, then starts every part of the load at one instant.
  virtual void start(const std::function<void()>& before_clock) = 0;
  virtual std::uint64_t start_ns() const = 0;
  virtual std::uint64_t measure_start_ns() const = 0;
  virtual std::uint64_t end_ns() const = 0;
  virtual void request_stop() = 0;  // every part ends its window at this instant
  virtual LoadGenerator::Window measured_window() const = 0;

  // Replies so far, for the progress line and --counters=sampled; null where the load reports
  // only at its end (other processes, other ranks).
  virtual std::optional<std::uint64_t> completed_so_far() const { return std::nullopt; }
  virtual std::uint64_t errors_so_far() const { return 0; }
  // Non-empty once a part of the load has died without reporting (checked without blocking).
  virtual std::string failure() { return {}; }

  // One report per part of the load, waiting for them until `deadline_ns`.
  virtual std::vector<ShardReport> join(std::uint64_t deadline_ns) = 0;
  // The report of join() that is this process, whose CPU and memory the run measures; null
  // when this process only coordinates.
  virtual std::optional<std::size_t> own_shard() const = 0;
  // A coordinating process's own CPU and memory: part of the load's (load processes' parent),
  // or not (an MPI rank 0 that serves).
  virtual bool coordinator_is_load() const = 0;
  // Who the other parts are, in "the results are the other ...'s".
  virtual const char* parts() const = 0;
};

// This process's load threads.
class OneProcessLoad final : public MeasuredLoad {
 public:
  OneProcessLoad(const LoadConfig& config, std::size_t clients) : load_(config), clients_(clients) {}
  void start(const std::function<void()>& before_clock) override { load_.start(before_clock); }
  std::uint64_t start_ns() const override { return load_.start_ns(); }
  std::uint64_t measure_start_ns() const override { return load_.measure_start_ns(); }
  std::uint64_t end_ns() const override { return load_.end_ns(); }
  void request_stop() override { load_.request_stop(); }
  LoadGenerator::Window measured_window() const override { return load_.measured_window(); }
  std::optional<std::uint64_t> completed_so_far() const override { return load_.completed_so_far(); }
  std::uint64_t errors_so_far() const override { return load_.errors_so_far(); }
  std::vector<ShardReport> join(std::uint64_t deadline_ns) override;
  std::optional<std::size_t> own_shard() const override { return 0; }
  bool coordinator_is_load() const override { return true; }
  const char* parts() const override { return "load processes"; }

 private:
  LoadGenerator load_;
  std::size_t clients_;
};

}  // namespace mux
