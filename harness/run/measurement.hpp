#pragma once
// One measurement, shared by `bench`, `bench load` and `bench sweep`: the load generator
// against a target, CPU sampled at the edges of the measured interval, a live progress line
// on a terminal, and an early stop on Ctrl-C (any stop signal: harness/system/stop_signals.hpp), or
// when the server dies or stops answering.
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/net.hpp"
#include "harness/spec/options.hpp"
#include "harness/results/report.hpp"
#include "harness/system/stop_signals.hpp"

namespace mux {

class KernelCounterWindow;
class MeasuredLoad;
class MeasuredServer;

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

// measure()'s steps, for a load made elsewhere (MPI ranks, harness/mpi/mpi_measure.cpp):
// a record for `label` against `target`; the memory read before the load connects (the
// baseline of memory per connection); the load of `o` with what only the run knows (the
// target, the source addresses); and the run of `load` measured with `kernel`, opened before
// the load's threads exist.
struct Baseline {
  double server_rss = 0;
  double loadgen_rss = 0;
  std::optional<double> tcp;
};
RunRecord new_record(const std::string& label, const SocketAddress& target);
Baseline read_baseline(MeasuredServer* server);
LoadConfig load_config(const RunOptions& options, const SocketAddress& target);
RunRecord run_load(MeasuredLoad& load, KernelCounterWindow& kernel, const RunOptions& options, RunRecord record,
                   const Baseline& before, MeasuredServer* server, const std::function<void()>& on_connected);

// A server that stopped answering bench (MeasuredServer::unresponsive_reason()): the run keeps
// what it measured, marked incomplete with that cause (added to an earlier one).
void mark_unresponsive(RunRecord& record, const MeasuredServer& server);

}  // namespace mux
