#include <cstring>
#include <exception>
#include <string>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/sweep/capacity_command.hpp"
#include "harness/sweep/sweep_command.hpp"
#include "harness/load/load_shards.hpp"
#include "harness/mpi/mpi_launch.hpp"
#ifdef MUXBENCH_HAVE_MPI
#include "harness/mpi/mpi_load.hpp"
#endif

// Whatever a command did not catch ends here as one line and exit status 1, never in
// std::terminate (SIGABRT, "terminate called after throwing", a core dump).
namespace {
int uncaught(const char* what) {
  std::string line = what;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return mux::fail_with(line, 1);
}
}  // namespace

int main(int argc, char** argv) try {
  const char* sub = argc > 1 ? argv[1] : "";
  // `bench serve`, which rank 0 of `mpirun ... bench --backend=B` starts as its server child,
  // inherits mpirun's environment but is no rank: it serves. The listings measure nothing.
  const bool serves = std::strcmp(sub, "serve") == 0 || std::strcmp(sub, "--list-backends") == 0 ||
                      std::strcmp(sub, "--list-counters") == 0;
  if (const auto ranks = mux::mpirun_world_size(); !serves && ranks && (*ranks != 1 || !mux::kBuiltWithMpi)) {
    if (!mux::kBuiltWithMpi)  // one line for the job: rank 0's
      return mux::mpirun_rank() == 0 ? mux::fail_with("started by mpirun, but this bench was built without MPI: install "
                                                      "libopenmpi-dev (scripts/setup) and rebuild, or run bench without mpirun", 2)
                                     : 2;
#ifdef MUXBENCH_HAVE_MPI
    if (std::strcmp(sub, "load") == 0) return mux::mpi_load_command(argc, argv);
    // `bench` itself (its flags, or none): rank 0 serves, the other ranks load.
    if (sub[0] == '-' || sub[0] == '\0') return mux::mpi_run_command(argc, argv);
    return mux::mpirun_rank() == 0
               ? mux::fail_with(fmt::format("under mpirun `bench {}` does not run: use `bench load --target=HOST:PORT` "
                                            "(every rank loads) or `bench --backend=B` (rank 0 serves, the others load)",
                                            sub), 2)
               : 2;
#endif
  }
  if (std::strcmp(sub, "serve") == 0) return mux::serve_command(argc, argv);
  if (std::strcmp(sub, "load") == 0) return mux::load_command(argc, argv);
  if (std::strcmp(sub, "capacity") == 0) return mux::capacity_command(argc, argv);
  if (std::strcmp(sub, "load-shard") == 0) return mux::load_shard_command(argc, argv);  // started by bench only
  if (std::strcmp(sub, "sweep") == 0) return mux::sweep_command(argc, argv);
  if (std::strcmp(sub, "--list-backends") == 0) return mux::list_backends_command(argc, argv);
  if (std::strcmp(sub, "--list-counters") == 0) return mux::list_counters_command(argc, argv);
  return mux::run_command(argc, argv);
} catch (const std::exception& e) {
  return uncaught(e.what());
} catch (...) {
  return uncaught("an unknown exception");
}
