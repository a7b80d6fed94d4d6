#pragma once
// Whether this process was started by mpirun (Open MPI, MPICH/Hydra, PMIx launchers), read
// from the environment before any MPI call: a binary built without MPI must still notice it.
#include <cstdlib>
#include <optional>

namespace mux {

// The job's size when started by mpirun (0: started by a launcher that does not say), nullopt
// when not started by mpirun.
inline std::optional<long> mpirun_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) return std::strtol(v, nullptr, 10);
  if (std::getenv("PMIX_RANK") != nullptr) return 0;
  return std::nullopt;
}

// This process's rank when started by mpirun (0 when the launcher does not say).
inline long mpirun_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (const char* v = std::getenv(name)) return std::strtol(v, nullptr, 10);
  return 0;
}

#ifdef MUXBENCH_HAVE_MPI
inline constexpr bool kBuiltWithMpi = true;
#else
inline constexpr bool kBuiltWithMpi = false;
#endif

}  // namespace mux
