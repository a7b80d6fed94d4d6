#pragma once
// `mpirun -n K bench load --target=S:P --clients=N ...`: each rank is a load shard with its
// exact share of the clients and rate (shard_config, as --loadgen-processes), on its own host.
// `mpirun -n K bench --backend=B ...` (harness/mpi/mpi_run.cpp): rank 0 serves and coordinates,
// ranks 1..K-1 are the shards.
//
// The run, on every rank: the same binary and options (checked on rank 0), each rank's clock
// against rank 0's (ping-pong, NTP-style), every connection opened, MPI_Barrier, then rank 0
// broadcasts its barrier exit instant: every rank starts the warm-up kShardStartMarginNs after
// it, converted to its own clock, so the measured window is one window on rank 0's clock.
// Each rank sends its result (loadgen/load_wire.hpp: histograms counter by counter) to rank 0,
// which merges them exactly and alone prints and writes files.
//
// A rank that dies or hangs: rank 0 waits for results until --timeout (at least 2 s) after the
// end, then writes what it has, complete:false naming the missing ranks, and ends the job with
// MPI_Abort (exit 1). mpirun itself ends every rank once one dies unless started with
// `--mca orte_enable_recovery 1` (Open MPI): only then does rank 0 live to write the partial
// results.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/kernel/kernel_counters.hpp"
#include "harness/load/load_shards.hpp"
#include "harness/load/measured_load.hpp"
#include "harness/mpi/mpi_world.hpp"
#include "loadgen/load_generator.hpp"

namespace mux {

// Load rank `world.rank()`'s share of `config` (as --loadgen-processes: the first ranks take
// the remainders); its threads are its own host's (--loadgen-threads, by default one per client
// CPU there), not a share of one host's. `root_serves`: ranks 1..K-1 share the load (call it
// on those only), rank 0 has none.
LoadConfig rank_share(const LoadConfig& config, const MpiWorld& world, bool root_serves);

class MpiLoad final : public MeasuredLoad {
 public:
  // Every rank: its share of `config`. `root_serves` (`mpirun ... bench --backend=B`): rank 0
  // runs the server and coordinates, the load is split over ranks 1..K-1 only. With
  // `count_kernel`, ranks 1..K-1 count what their process costs the kernel over their window
  // and send it with their result (rank 0 counts its own in measure()).
  MpiLoad(const LoadConfig& config, const MpiWorld& world, bool root_serves, bool count_kernel);

  // Connects (a rank that cannot, or that brings `rank_error`: UsageError on every rank, rank
  // 0's naming it), runs `before_clock`, then the barrier and the common start.
  void start(const std::function<void()>& before_clock, const std::string& rank_error);
  void start(const std::function<void()>& before_clock) override { start(before_clock, {}); }
  std::uint64_t start_ns() const override { return local_ ? local_->start_ns() : start_ns_; }
  std::uint64_t measure_start_ns() const override { return local_ ? local_->measure_start_ns() : measure_ns_; }
  std::uint64_t end_ns() const override { return local_ ? local_->end_ns() : end_ns_; }
  void request_stop() override;  // rank 0: every rank ends its window at this instant
  LoadGenerator::Window measured_window() const override;
  bool root_loads() const { return first_load_rank_ == 0; }

  // Rank 0: every load rank's result, waiting until `deadline_ns` for them (rank 0's own first
  // when it loads too).
  std::vector<ShardReport> join(std::uint64_t deadline_ns) override;
  // A missing rank shows at join().
  std::optional<std::size_t> own_shard() const override { return root_loads() ? std::optional<std::size_t>(0) : std::nullopt; }
  bool coordinator_is_load() const override { return false; }  // a serving rank 0 holds no connections
  const char* parts() const override { return "ranks"; }
  // Load ranks 1..K-1: the whole run, ending with their result sent to rank 0; its memory
  // against `rss_before`, read before this MpiLoad was made.
  void run_rank(double rss_before, const std::string& rank_error = {});
  nlohmann::ordered_json describe() const;  // results.mpi (rank 0)

 private:
  std::size_t load_ranks() const { return static_cast<std::size_t>(world_.size() - first_load_rank_); }

  const MpiWorld& world_;
  int first_load_rank_;  // 0, or 1 when rank 0 serves
  LoadConfig config_;    // the whole load
  LoadConfig mine_;      // this rank's share (none on a serving rank 0)
  std::optional<KernelCounters> counters_;  // ranks 1..K-1: opened before their load threads exist
  std::optional<LoadGenerator> local_;  // none on a serving rank 0
  // A serving rank 0's own schedule (what LoadGenerator keeps for a loading rank).
  std::uint64_t start_ns_ = 0, measure_ns_ = 0, end_ns_ = 0, stop_ns_ = UINT64_MAX;
  std::vector<std::string> hosts_;       // rank 0: every rank's
  std::vector<ClockOffset> offsets_;       // rank 0: every rank's clock against its own
  std::vector<std::uint64_t> barrier_exit_ns_;  // rank 0: when each rank left the barrier, on rank 0's clock
  ClockOffset clock_;
};

// results.kernel_counters.loadgen under MPI: the load ranks' windows (ShardReport::kernel)
// added up, per request of them all; `root_window`, rank 0's own when it is one of the shards,
// becomes its shard's. A rank without counts makes the sum unknown (null, naming the rank).
nlohmann::ordered_json add_up_load_ranks(bool root_loads, const std::optional<KernelSnapshot>& root_window,
                                         std::vector<ShardReport>& shards, std::uint64_t requests);

// `bench load` started by mpirun with more than one rank.
int mpi_load_command(int argc, char** argv);
// `bench [--backend=B ...]` started by mpirun: rank 0 serves, the other ranks load (mpi_run.cpp).
int mpi_run_command(int argc, char** argv);

}  // namespace mux
