#pragma once
#include <functional>
#include <string>

#include "core/net.hpp"
#include "harness/results/report.hpp"
#include "harness/spec/options.hpp"

namespace mux {

class MeasuredServer;
class MpiWorld;

// measure() as one rank of `mpirun -n K bench load` or `mpirun -n K bench --backend=B`
// (harness/mpi/mpi_load.hpp): every rank calls it; rank 0's record holds every load rank's result,
// merged (the others' is empty). With `server` (on rank 0 only, and `root_serves` on every
// rank), rank 0 measures that server and the load is split over the other ranks; a load
// rank's `rank_error` (e.g. its preflight's) ends the run on every rank. MPI builds only.
struct MpiServing {
  bool root_serves = false;
  MeasuredServer* server = nullptr;
  std::string rank_error;
};
RunRecord measure_mpi(const RunOptions& options, const std::string& label, const SocketAddress& target,
                      const MpiWorld& world, const std::function<void()>& on_connected, const MpiServing& serving = {});

}  // namespace mux
