#pragma once
// What both commands started by mpirun check before they measure: `bench load` (every rank a
// load shard, harness/mpi/mpi_load.cpp) and `bench --backend=B` (rank 0 serves, harness/mpi/mpi_run.cpp).
#include <functional>
#include <optional>
#include <string>

#include "harness/mpi/mpi_world.hpp"
#include "harness/spec/options.hpp"
#include "harness/results/report.hpp"

namespace mux {

// Rank 0's line on stderr, on rank 0 only; every rank's exit status (2).
int fail_everywhere(const MpiWorld& world, const std::string& message);

// nullopt when every rank runs rank 0's binary with rank 0's options; else (on rank 0) why not.
std::optional<std::string> identity_mismatch(const MpiWorld& world, int argc, char** argv);

// Every rank parses the same options; only rank 0 says what is wrong with them (the others'
// stderr goes to /dev/null meanwhile).
std::optional<RunOptions> parse_on_every_rank(const MpiWorld& world, const std::function<std::optional<RunOptions>()>& parse);

// Whether a load rank sent no result (it died or hangs). Then the job must end by MPI_Abort:
// a hung rank may still hold MPI, and MPI_Finalize would wait for it.
bool a_rank_never_reported(const RunRecord& record);

// Why `load_ranks` MPI ranks cannot share the load these options ask for ("": they can).
std::string mpi_shape_refusal(const RunOptions& options, std::size_t load_ranks);

}  // namespace mux
