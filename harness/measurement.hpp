#pragma once
// One measurement, shared by `bench`, `bench load` and `bench sweep`: the load generator
// against a target, CPU sampled at the edges of the measured interval, a live progress line
// on a terminal, and an early stop on Ctrl-C or when the server dies.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/net.hpp"
#include "harness/options.hpp"
#include "harness/report.hpp"

namespace mux {

class ServerProcess;

// SIGINT/SIGTERM set a flag that measure() watches (no SA_RESTART, so sleeps end early).
void install_stop_signals();
int stop_signal();  // the signal received, 0 if none

// `server` may be null (`bench load`): its CPU is then not measured. `on_connected` runs once
// every connection is open, before the clock starts (e.g. to print the table header only
// when something will be measured); when the target cannot be reached, measure() throws
// UsageError without calling it.
RunRecord measure(const RunOptions& options, const std::string& label, const SocketAddress& target,
                  ServerProcess* server, const std::function<void()>& on_connected = {});

// Prints the row, writes --json and --hgrm (atomically); throws on a write failure.
void publish(const RunOptions& options, const RunRecord& record, const nlohmann::ordered_json& environment);

}  // namespace mux
