// `bench`: start the server backend in its own pinned process, drive it with the load
// generator on the other cores, measure, report, and always leave nothing running behind.
#include <algorithm>
#include <cstdio>
#include <functional>

#include <fmt/format.h>

#include "harness/commands.hpp"
#include "harness/environment.hpp"
#include "harness/measurement.hpp"
#include "harness/preflight.hpp"
#include "harness/server_process.hpp"

namespace mux {

int fail_with(const std::string& message, int code) {
  std::fputs(fmt::format("bench: error: {}\n", message).c_str(), stderr);
  return code;
}

namespace {

// The table header goes out once the first load generator has connected: a run that
// measures nothing (bad input, nothing listening) leaves stdout empty.
std::function<void()> header_once(const RunOptions& o) {
  return [&o, printed = false]() mutable {
    if (printed) return;
    std::fputs(table_header(o).c_str(), stdout);
    std::fflush(stdout);
    printed = true;
  };
}

}  // namespace

int run_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_run_options(argc, argv, exit_code);
  if (!options) return exit_code;
  const RunOptions& o = *options;
  std::vector<SkippedBackend> skipped;
  try {
    skipped = preflight(o);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }
  install_stop_signals();
  pin_process(o.client_cpus);  // the server child is given --server-cpus instead

  const auto environment = describe_environment();
  const auto print_header = header_once(o);
  std::string notes;
  for (const SkippedBackend& s : skipped) notes += fmt::format("{} skipped: {}\n", s.name, s.reason);
  for (const std::string& backend : o.backends()) {
    if (std::any_of(skipped.begin(), skipped.end(), [&](const SkippedBackend& s) { return s.name == backend; }))
      continue;
    RunRecord record;
    try {
      const int backlog = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(o.clients, 1024), 1 << 20));
      const ServerShape shape = resolve_server_shape(*find_backend(backend), o.server_shape, o.server_cpus.size());
      ServerProcess server(
          {backend, o.protocol, o.host, o.port, backlog, o.work_us, o.server_cpus, o.read_size, o.counters, shape,
           o.zc_threshold});
      record = measure(o, backend, server.address().reachable_locally(), &server, print_header);
      record.server_counters = server.stop();
      record.server_shape = shape;
      record.server_loops = server.loops();
      publish(o, record, environment);
    } catch (const UsageError& e) {
      return fail_with(e.what(), kExitUsage);
    } catch (const std::exception& e) {
      return fail_with(fmt::format("{} run failed: {}", backend, e.what()), kExitFailed);
    }
    notes += table_notes(o, record);
    if (!record.complete) {
      exit_code = stop_signal() ? kExitInterrupted : kExitFailed;
      break;
    }
  }
  if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
  return exit_code;
}

int load_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_load_options(argc, argv, exit_code);
  if (!options) return exit_code;
  const RunOptions& o = *options;
  try {
    preflight(o);
    install_stop_signals();
    pin_process(o.client_cpus);
    const auto environment = describe_environment();
    const RunRecord record = measure(o, o.backend, parse_target(o.target), nullptr, header_once(o));
    publish(o, record, environment);
    if (const std::string notes = table_notes(o, record); !notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
    return record.complete ? 0 : stop_signal() ? kExitInterrupted : kExitFailed;
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  } catch (const std::exception& e) {
    return fail_with(e.what(), kExitFailed);
  }
}

}  // namespace mux
