// `bench`: start the server backend in its own pinned process, drive it with the load
// generator on the other cores, measure, report, and always leave nothing running behind.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/results/run_reporters.hpp"
#include "harness/system/environment.hpp"
#include "harness/run/measurement.hpp"
#include "harness/run/preflight.hpp"
#include "harness/spec/transport.hpp"

namespace mux {

int run_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_run_options(argc, argv, exit_code, run_output_flags());
  if (!options) return exit_code;
  RunOptions o = *options;
  std::vector<SkippedBackend> skipped;
  // --transport=unix without --socket-path: every server of this run listens in one private
  // directory, removed (with a socket file a killed server left) when bench ends.
  std::optional<PrivateSocketDir> socket_dir;
  try {
    skipped = preflight(o);
    if (o.server.transport == kTransportUnix && o.server.socket_path.empty()) {
      socket_dir.emplace();
      o.server.socket_path = socket_dir->socket_path();
    }
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }
  install_stop_signals();
  pin_process(o.load.cpus);  // the server child is given --server-cpus instead

  const auto environment = describe_environment();
  const auto print_header = header_once(o);
  std::string notes;
  std::vector<std::string> unwritten;  // outputs a final write failed for: said after the notes
  for (const SkippedBackend& s : skipped) notes += fmt::format("{} skipped: {}\n", s.name, s.reason);
  for (const std::string& backend : o.backends()) {
    if (std::any_of(skipped.begin(), skipped.end(), [&](const SkippedBackend& s) { return s.name == backend; }))
      continue;
    RunRecord record;
    try {
      record = run_backend(o, backend, print_header);
      std::ranges::move(publish({o, record, environment}), std::back_inserter(unwritten));
    } catch (const UsageError& e) {
      return fail_with(e.what(), kExitUsage);
    } catch (const std::exception& e) {
      return fail_with(fmt::format("{} run failed: {}", backend, e.what()), stop_signal() ? kExitInterrupted : kExitFailed);
    }
    notes += run_notes({o, record, environment});
    if (!record.complete) {
      exit_code = stop_signal() ? kExitInterrupted : kExitFailed;
      break;
    }
  }
  if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
  return report_unwritten(unwritten, exit_code);
}

}  // namespace mux
