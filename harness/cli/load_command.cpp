// `bench load`: the load generator against a server bench did not start (--target), measured
// and reported as `bench` reports its own.
#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/results/run_reporters.hpp"
#include "harness/system/environment.hpp"
#include "harness/run/measurement.hpp"
#include "harness/run/preflight.hpp"

namespace mux {

int load_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_load_options(argc, argv, exit_code, run_output_flags());
  if (!options) return exit_code;
  const RunOptions& o = *options;
  try {
    preflight(o);
    install_stop_signals();
    pin_process(o.load.cpus);
    const auto environment = describe_environment();
    const RunRecord record = measure(o, o.server.backend, parse_target(o.target), nullptr, header_once(o));
    const ReportedRun run{o, record, environment};
    const std::vector<std::string> unwritten = publish(run);
    if (const std::string notes = run_notes(run); !notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
    return report_unwritten(unwritten, record.complete ? 0 : stop_signal() ? kExitInterrupted : kExitFailed);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  } catch (const std::exception& e) {
    return fail_with(e.what(), kExitFailed);
  }
}

}  // namespace mux
