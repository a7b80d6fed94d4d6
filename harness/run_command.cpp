// `bench`: start the server backend in its own pinned process, drive it with the load
// generator on the other cores, measure, report, and always leave nothing running behind.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "harness/command_server.hpp"
#include "harness/commands.hpp"
#include "harness/environment.hpp"
#include "harness/measurement.hpp"
#include "harness/preflight.hpp"
#include "harness/server_process.hpp"
#include "harness/transport.hpp"

namespace mux {

int fail_with(const std::string& message, int code) {
  std::fputs(fmt::format("bench: error: {}\n", message).c_str(), stderr);
  return code;
}

int report_unwritten(const std::vector<std::string>& unwritten, int exit_code) {
  std::fflush(stdout);  // the table and its notes first: the results the files would have held
  for (const std::string& line : unwritten) fail_with(line, kExitFailed);
  return unwritten.empty() || exit_code != 0 ? exit_code : kExitFailed;
}

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

// --server-cmd: the command's server, measured like a backend; it keeps no counters of its own.
RunRecord run_server_command(const RunOptions& o, const std::string& name, const MeasureServer& measure_server) {
  CommandServer server({name, o.server_cmd, o.host, o.port, o.transport == kTransportUnix ? o.socket_path : "",
                        o.server_cpus, o.counters, o.server_start_timeout_s, server_wait_s(o.load.timeout_s)});
  RunRecord record = measure_server(server.address(), server);
  server.stop();
  mark_unresponsive(record, server);
  record.server_command = server.command_line();
  return record;
}

RunRecord run_backend_with(const RunOptions& o, const std::string& backend, const MeasureServer& measure_server) {
  if (!o.server_cmd.empty()) return run_server_command(o, backend, measure_server);
  const int backlog = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(o.load.clients, 1024), 1 << 20));
  const ServerShape shape = resolve_server_shape(*find_backend(backend), o.server_shape, o.server_cpus.size());
  ServerProcess server(
      {backend, o.load.protocol, o.host, o.port, o.transport == kTransportUnix ? o.socket_path : "", backlog,
       o.load.work_us, o.server_cpus, o.read_size, o.counters, shape, o.zc_threshold,
       server_wait_s(o.load.timeout_s)});
  RunRecord record = measure_server(server.address().reachable_locally(), server);
  record.server_counters = server.stop();
  mark_unresponsive(record, server);
  record.server_shape = shape;
  record.server_loops = server.loops();
  return record;
}

RunRecord run_backend(const RunOptions& o, const std::string& backend, const std::function<void()>& on_connected) {
  return run_backend_with(o, backend, [&](const SocketAddress& target, MeasuredServer& server) {
    return measure(o, backend, target, &server, on_connected);
  });
}

int run_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_run_options(argc, argv, exit_code);
  if (!options) return exit_code;
  RunOptions o = *options;
  std::vector<SkippedBackend> skipped;
  // --transport=unix without --socket-path: every server of this run listens in one private
  // directory, removed (with a socket file a killed server left) when bench ends.
  std::optional<PrivateSocketDir> socket_dir;
  try {
    skipped = preflight(o);
    if (o.transport == kTransportUnix && o.socket_path.empty()) {
      socket_dir.emplace();
      o.socket_path = socket_dir->socket_path();
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
      std::ranges::move(publish(o, record, environment), std::back_inserter(unwritten));
    } catch (const UsageError& e) {
      return fail_with(e.what(), kExitUsage);
    } catch (const std::exception& e) {
      return fail_with(fmt::format("{} run failed: {}", backend, e.what()), stop_signal() ? kExitInterrupted : kExitFailed);
    }
    notes += table_notes(o, record);
    if (!record.complete) {
      exit_code = stop_signal() ? kExitInterrupted : kExitFailed;
      break;
    }
  }
  if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
  return report_unwritten(unwritten, exit_code);
}

int load_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_load_options(argc, argv, exit_code);
  if (!options) return exit_code;
  const RunOptions& o = *options;
  try {
    preflight(o);
    install_stop_signals();
    pin_process(o.load.cpus);
    const auto environment = describe_environment();
    const RunRecord record = measure(o, o.backend, parse_target(o.target), nullptr, header_once(o));
    const std::vector<std::string> unwritten = publish(o, record, environment);
    if (const std::string notes = table_notes(o, record); !notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
    return report_unwritten(unwritten, record.complete ? 0 : stop_signal() ? kExitInterrupted : kExitFailed);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  } catch (const std::exception& e) {
    return fail_with(e.what(), kExitFailed);
  }
}

}  // namespace mux
