// `bench`: start the server backend in its own pinned process, drive it with the load
// generator on the other cores, measure, report, and always leave nothing running behind.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "harness/atomic_file.hpp"
#include "harness/commands.hpp"
#include "harness/environment.hpp"
#include "harness/preflight.hpp"
#include "harness/report.hpp"
#include "harness/server_process.hpp"
#include "loadgen/load_generator.hpp"

namespace mux {
namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }

double process_cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto us = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

RunRecord measure(const RunOptions& o, const std::string& backend) {
  const int backlog = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(o.clients, 1024), 1 << 20));
  ServerProcess server({backend, o.host, o.port, backlog, o.server_cpus});
  RunRecord r;
  r.backend = backend;
  r.server_address = server.address().to_string();

  LoadGenerator load({.target = server.address(),
                      .clients = o.clients,
                      .threads = o.loadgen_threads,
                      .cpus = o.client_cpus,
                      .protocol = "echo",
                      .message_size = o.message_size,
                      .pipeline = o.pipeline,
                      .warmup_s = o.warmup_s,
                      .duration_s = o.duration_s,
                      .timeout_s = o.timeout_s});
  load.start();  // all connections open: the clock starts now

  // Sleeps until `deadline`, watching for Ctrl-C and for the server dying under us.
  auto wait_until = [&](std::uint64_t deadline) {
    while (now_ns() < deadline) {
      if (const int sig = g_signal.load()) {
        r.complete = false;
        r.incomplete_reason = fmt::format("interrupted by signal {} ({})", sig, strsignal(sig));
      } else if (!server.alive()) {
        r.complete = false;
        r.incomplete_reason = fmt::format("the {} server process {} during the run", backend, server.exit_description());
      }
      if (!r.complete) {
        load.request_stop();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::uint64_t>(20'000'000, deadline - now_ns())));
    }
    return true;
  };

  const bool warmed_up = wait_until(load.measure_start_ns());
  const double server_cpu0 = server.cpu_time_us(), loadgen_cpu0 = process_cpu_us();
  const std::uint64_t t0 = std::max(now_ns(), load.measure_start_ns());
  if (warmed_up) wait_until(load.end_ns());
  const std::uint64_t t1 = std::min(now_ns(), load.end_ns());
  const double server_cpu1 = server.cpu_time_us(), loadgen_cpu1 = process_cpu_us();

  r.load = load.join();
  r.measured_s = t1 > t0 ? static_cast<double>(t1 - t0) / 1e9 : 0.0;
  if (r.measured_s > 0) {
    if (server.alive()) r.server_cpu_us = server_cpu1 - server_cpu0;
    r.loadgen_cpu_us = loadgen_cpu1 - loadgen_cpu0;
  }
  r.server_counters = server.stop();
  return r;
}

}  // namespace

int run_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_run_options(argc, argv, exit_code);
  if (!options) return exit_code;
  const RunOptions& o = *options;

  auto error = [](const std::string& message, int code) {
    std::fputs(fmt::format("bench: error: {}\n", message).c_str(), stderr);
    return code;
  };
  try {
    preflight(o);
  } catch (const UsageError& e) {
    return error(e.what(), kExitUsage);
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a pending sleep or wait returns early
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  pin_process(o.client_cpus);  // the server child pins itself to --server-cpus

  const auto environment = describe_environment();
  std::fputs(table_header(o).c_str(), stdout);
  std::fflush(stdout);
  std::string notes;
  for (const std::string& backend : o.backends()) {
    if (::isatty(STDERR_FILENO))
      std::fputs(fmt::format("measuring {} ({} s)...\r", backend, o.warmup_s + o.duration_s).c_str(), stderr);
    RunRecord record;
    try {
      record = measure(o, backend);
    } catch (const UsageError& e) {
      return error(e.what(), kExitUsage);
    } catch (const std::exception& e) {
      return error(fmt::format("{} run failed: {}", backend, e.what()), kExitFailed);
    }
    std::fputs(table_row(o, record).c_str(), stdout);
    std::fflush(stdout);
    notes += table_notes(o, record);
    if (!o.json_path.empty()) {
      try {
        write_file_atomically(json_path_for(o, backend), to_json(o, record, environment).dump(2) + "\n");
      } catch (const std::exception& e) {
        return error(e.what(), kExitFailed);
      }
    }
    if (!record.complete) {
      exit_code = g_signal.load() ? kExitInterrupted : kExitFailed;
      break;
    }
  }
  if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
  return exit_code;
}

}  // namespace mux
