#include "harness/measurement.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/limits.hpp"
#include "core/thread_cpu.hpp"
#include "harness/atomic_file.hpp"
#include "harness/kernel_counters.hpp"
#include "harness/preflight.hpp"
#include "harness/server_process.hpp"
#include "loadgen/load_generator.hpp"

namespace mux {
namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }

// Pages of memory the kernel's TCP stack holds, system-wide ("TCP: ... mem N").
std::optional<double> kernel_tcp_bytes() {
  std::FILE* f = std::fopen("/proc/net/sockstat", "r");
  if (f == nullptr) return std::nullopt;
  char line[256];
  std::optional<double> bytes;
  while (std::fgets(line, sizeof line, f)) {
    const char* mem = std::strstr(line, " mem ");
    if (std::strncmp(line, "TCP:", 4) == 0 && mem != nullptr)
      bytes = std::strtod(mem + 5, nullptr) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  }
  std::fclose(f);
  return bytes;
}

// Read the server's threads one by one up to this many; beyond, reading a file per thread at
// each edge takes seconds (of the load generator's core), and the verdict then takes
// min(cores, threads) as what the server could use.
constexpr std::size_t kMaxServerThreadsRead = 256;

// The CPU of both sides at one edge of the measured interval. Process totals first, the
// moment the edge is reached: they are what utilization and CPU per request divide. The
// per-thread reads follow.
struct CpuSample {
  double loadgen_us = 0;
  std::optional<double> server_us;
  std::optional<std::map<pid_t, std::uint64_t>> server_threads;
  std::size_t server_thread_count = 0;
};

CpuSample sample_cpu(ServerProcess* server) {
  CpuSample s;
  s.loadgen_us = process_cpu_us();
  if (server != nullptr && server->alive()) {
    s.server_us = server->cpu_time_us();
    // Every process of the server: with --server-processes, the workers hold the loops.
    const std::vector<pid_t> pids = server->processes();
    s.server_threads = read_processes_thread_cpu(pids, kMaxServerThreadsRead);
    s.server_thread_count = processes_thread_count(pids);
  }
  return s;
}

LoadConfig load_config(const RunOptions& o, const SocketAddress& target) {
  return {.target = target,
          .clients = o.clients,
          .threads = o.loadgen_threads,
          .cpus = o.client_cpus,
          .protocol = o.protocol,
          .message_size = o.message_size,
          .expected_body = o.expect_body,
          .pipeline = o.pipeline,
          .warmup_s = o.warmup_s,
          .duration_s = o.duration_s,
          .timeout_s = o.timeout_s,
          .rate = o.rate,
          .arrival = o.arrival == "poisson" ? LoadConfig::Arrival::poisson : LoadConfig::Arrival::constant,
          .seed = o.seed,
          .idle = o.idle,
          .churn = o.churn,
          .sources = plan_sources(o, target)};
}

// One line, rewritten in place about once a second, only when stderr is a terminal.
class ProgressLine {
 public:
  ProgressLine(const std::string& label, const LoadGenerator& load)
      : label_(label), load_(load), enabled_(::isatty(STDERR_FILENO) == 1), last_ns_(load.start_ns()) {}
  ~ProgressLine() {
    if (enabled_) std::fputs("\r\033[K", stderr);
  }
  void update(std::uint64_t now) {
    if (!enabled_ || now - last_ns_ < 1'000'000'000ULL) return;
    const std::uint64_t done = load_.completed_so_far();
    const double rate = static_cast<double>(done - last_done_) * 1e9 / static_cast<double>(now - last_ns_);
    const double t = static_cast<double>(now - load_.start_ns()) / 1e9;
    const double total = static_cast<double>(load_.end_ns() - load_.start_ns()) / 1e9;
    std::fputs(fmt::format("\r\033[K{:<9} {:5.1f}/{:.1f} s  {:<9} {:>10.0f} req/s  errors {}", label_, t, total,
                           now < load_.measure_start_ns() ? "warm-up" : "measuring", rate, load_.errors_so_far())
                   .c_str(),
               stderr);
    last_ns_ = now;
    last_done_ = done;
  }

 private:
  std::string label_;
  const LoadGenerator& load_;
  bool enabled_;
  std::uint64_t last_ns_;
  std::uint64_t last_done_ = 0;
};

}  // namespace

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int stop_signal() { return g_signal.load(); }

RunRecord measure(const RunOptions& o, const std::string& label, const SocketAddress& target, ServerProcess* server,
                  const std::function<void()>& on_connected) {
  // This thread samples the CPU at the edges of the measured interval: wake it on time.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  RunRecord r;
  r.backend = label;
  r.server_address = target.to_string();
  const double server_rss0 = server ? static_cast<double>(server->resident_bytes()) : 0;
  const double loadgen_rss0 = static_cast<double>(resident_bytes());
  const auto tcp0 = kernel_tcp_bytes();
  LoadGenerator load(load_config(o, target));
  KernelCounterWindow kernel(o.counters, server);  // before start(): its threads inherit the counters
  // The clock starts once the server itself has accepted every connection (the kernel
  // completes connects before accept(); a thread-per-client server still has threads to make).
  load.start([&] {
    if (server == nullptr) return;
    const std::uint64_t deadline = now_ns() + seconds_to_ns(60);
    while (server->alive() && server->accepted() < o.clients + o.idle && now_ns() < deadline && !g_signal.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  if (on_connected) on_connected();
  ProgressLine progress(label, load);

  // Sleeps until `deadline`, watching for Ctrl-C and for the server dying under us.
  auto wait_until = [&](std::uint64_t deadline) {
    for (std::uint64_t now; (now = now_ns()) < deadline;) {
      if (const int sig = g_signal.load()) {
        r.complete = false;
        r.incomplete_reason = fmt::format("interrupted by signal {} ({})", sig, strsignal(sig));
      } else if (server != nullptr && !server->alive()) {
        r.complete = false;
        r.incomplete_reason = fmt::format("the {} server process {} during the run", label, server->exit_description());
      }
      if (!r.complete) {
        load.request_stop();
        return false;
      }
      progress.update(now);
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::uint64_t>(20'000'000, deadline - now)));
    }
    return true;
  };

  const bool warmed_up = wait_until(load.measure_start_ns());
  const CpuSample cpu0 = sample_cpu(server);
  kernel.start();
  // Memory after the CPU sample: these /proc reads are not on the clock.
  if (server != nullptr && server->alive()) r.server_memory_bytes = static_cast<double>(server->resident_bytes()) - server_rss0;
  r.loadgen_memory_bytes = static_cast<double>(resident_bytes()) - loadgen_rss0;
  if (const auto tcp1 = kernel_tcp_bytes(); tcp0 && tcp1) r.kernel_tcp_memory_bytes = *tcp1 - *tcp0;
  if (warmed_up) wait_until(load.end_ns());  // an early stop ends the load generator's window here
  const CpuSample cpu1 = sample_cpu(server);
  kernel.stop();

  r.load = load.join();
  r.kernel_counters = kernel.to_json(r.load.requests);
  // The load generator owns the window: requests were counted in exactly this interval.
  r.measured_s = load.measured_window().seconds();
  // A closed loop keeps a request outstanding on every connection: a whole window without a
  // reply, and no error to say why, means nothing was measured (a stalled server, or requests
  // longer than the window), not a run of zero requests per second with zero errors.
  if (r.complete && !o.open_loop() && o.clients > 0 && r.load.requests == 0 && r.load.errors.total() == 0 &&
      r.measured_s > 0) {
    r.complete = false;
    r.incomplete_reason = fmt::format(
        "no reply arrived in the {:.3g} s measured window although each of the {} clients had a request "
        "outstanding: the server stalled, or a request takes longer than the window (raise --duration)",
        r.measured_s, o.clients);
  }
  if (r.measured_s <= 0) {
    r.server_cpu_unknown_reason = kNothingMeasured;
    return r;
  }
  r.loadgen_cpu_us = cpu1.loadgen_us - cpu0.loadgen_us;
  ThreadCpuUse load_threads;
  load_threads.busiest_on_cpu_ns = 0;
  for (const std::uint64_t ns : r.load.thread_cpu_ns) load_threads.add(ns);
  r.loadgen_threads = load_threads;
  if (server == nullptr) {
    r.server_cpu_unknown_reason = "bench load: the server is not started by bench, so its CPU is not measured";
  } else if (!server->alive() || !cpu0.server_us || !cpu1.server_us) {
    r.server_cpu_unknown_reason = "the server process ended during the run";
  } else {
    r.server_cpu_us = *cpu1.server_us - *cpu0.server_us;
    if (cpu0.server_threads && cpu1.server_threads) {
      r.server_threads = thread_cpu_use(*cpu0.server_threads, *cpu1.server_threads);
    } else {
      r.server_threads = ThreadCpuUse{.busiest_on_cpu_ns = std::nullopt, .threads = cpu1.server_thread_count};
      r.server_cpu_unknown_reason =
          fmt::format("the server's busiest thread is not measured: it has {} threads, more than the {} read one by one",
                      cpu1.server_thread_count, kMaxServerThreadsRead);
    }
  }
  return r;
}

void publish(const RunOptions& o, const RunRecord& record, const nlohmann::ordered_json& environment) {
  std::fputs(table_row(o, record).c_str(), stdout);
  std::fflush(stdout);
  if (!o.json_path.empty())
    write_file_atomically(path_for(o, o.json_path, record.backend), to_json(o, record, environment).dump(2) + "\n");
  if (!o.hgrm_path.empty())
    write_file_atomically(path_for(o, o.hgrm_path, record.backend), to_hgrm(record.load.latency));
}

}  // namespace mux
