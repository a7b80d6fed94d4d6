// A measured run whose load is MPI ranks: measure()'s steps (harness/run/measurement.hpp) with
// an MpiLoad, plus what only rank 0 knows (the ranks' hosts and clocks, their kernel counts).
#include "harness/mpi/mpi_measure.hpp"

#include "harness/mpi/mpi_load.hpp"
#include "harness/run/kernel_window.hpp"
#include "harness/run/measurement.hpp"

namespace mux {

RunRecord measure_mpi(const RunOptions& o, const std::string& label, const SocketAddress& target, const MpiWorld& world,
                      const std::function<void()>& on_connected, const MpiServing& serving) {
  RunRecord r = new_record(label, target);
  MeasuredServer* server = serving.server;
  const Baseline before = read_baseline(server);
  MpiLoad load(load_config(o, target), world, serving.root_serves, o.counters);
  if (!world.root()) {
    load.run_rank(before.loadgen_rss, serving.rank_error);
    return r;
  }
  // The server, where rank 0 runs it, is counted as `bench` counts its own; so is rank 0's own
  // process. The load side is the load ranks' counts added up (rank 0's among them when it loads).
  KernelCounterWindow kernel(o.counters, o.counters_sampling, server);
  r = run_load(load, kernel, o, std::move(r), before, server, on_connected);
  if (o.counters) r.kernel_counters["loadgen"] = add_up_load_ranks(load.root_loads(), kernel.loadgen_window(), r.shards, r.load.requests);
  r.mpi = load.describe();
  // /proc/net/sockstat is rank 0's network's: where a load rank runs on another host, the
  // load side's TCP memory is not in it.
  if (server && r.mpi["distinct_hosts"].get<std::size_t>() > 1 && r.kernel_tcp_memory_bytes) {
    r.kernel_tcp_memory_bytes.reset();
    r.kernel_tcp_memory_unknown_reason = "load ranks run on other hosts, whose TCP memory rank 0 does not see";
  }
  return r;
}

}  // namespace mux
