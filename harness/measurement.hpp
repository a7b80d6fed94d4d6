#pragma once
// One measurement, shared by `bench`, `bench load` and `bench sweep`: the load generator
// against a target, CPU sampled at the edges of the measured interval, a live progress line
// on a terminal, and an early stop on Ctrl-C (any stop signal: harness/stop_signals.hpp), or
// when the server dies or stops answering.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/net.hpp"
#include "harness/options.hpp"
#include "harness/report.hpp"
#include "harness/stop_signals.hpp"

namespace mux {

class MeasuredServer;
class MpiWorld;

// `server` may be null (`bench load`): its CPU is then not measured. `on_connected` runs once
// every connection is open, before the clock starts (e.g. to print the table header only
// when something will be measured); when the target cannot be reached, measure() throws
// UsageError without calling it.
RunRecord measure(const RunOptions& options, const std::string& label, const SocketAddress& target,
                  MeasuredServer* server, const std::function<void()>& on_connected = {});

// `bench`'s run of one backend: its server started (pinned, shaped by the --server-* flags),
// measured, its counters collected, and stopped. Throws UsageError or std::runtime_error.
RunRecord run_backend(const RunOptions& options, const std::string& backend, const std::function<void()>& on_connected);

// run_backend() with the measurement given: `measure_server` gets the address a client on this
// machine reaches the started server at, and the server.
using MeasureServer = std::function<RunRecord(const SocketAddress& target, MeasuredServer& server)>;
RunRecord run_backend_with(const RunOptions& options, const std::string& backend, const MeasureServer& measure_server);

// measure() as one rank of `mpirun -n K bench load` or `mpirun -n K bench --backend=B`
// (harness/mpi_load.hpp): every rank calls it; rank 0's record holds every load rank's result,
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

// A server that stopped answering bench (MeasuredServer::unresponsive_reason()): the run keeps
// what it measured, marked incomplete with that cause (added to an earlier one).
void mark_unresponsive(RunRecord& record, const MeasuredServer& server);

// Prints the row, writes --json and --hgrm (atomically). A file that cannot be written (disk
// full) does not stop the other: returns one line per file not written (empty: all were).
[[nodiscard]] std::vector<std::string> publish(const RunOptions& options, const RunRecord& record,
                                               const nlohmann::ordered_json& environment);

}  // namespace mux
