#include "harness/measurement.hpp"

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

RunRecord measure(const RunOptions& o, const std::string& label, const SocketAddress& target, ServerProcess* server) {
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
  if (server != nullptr && server->alive()) r.server_memory_bytes = static_cast<double>(server->resident_bytes()) - server_rss0;
  r.loadgen_memory_bytes = static_cast<double>(resident_bytes()) - loadgen_rss0;
  if (const auto tcp1 = kernel_tcp_bytes(); tcp0 && tcp1) r.kernel_tcp_memory_bytes = *tcp1 - *tcp0;
  const std::uint64_t t0 = std::max(now_ns(), load.measure_start_ns());
  const double loadgen_cpu0 = process_cpu_us(), server_cpu0 = server ? server->cpu_time_us() : 0;
  kernel.start();
  if (warmed_up) wait_until(load.end_ns());
  const std::uint64_t t1 = std::min(now_ns(), load.end_ns());
  const double loadgen_cpu1 = process_cpu_us(), server_cpu1 = server ? server->cpu_time_us() : 0;
  kernel.stop();

  r.load = load.join();
  r.kernel_counters = kernel.to_json(r.load.requests);
  r.measured_s = t1 > t0 ? static_cast<double>(t1 - t0) / 1e9 : 0.0;
  if (r.measured_s > 0) {
    if (server != nullptr && server->alive()) r.server_cpu_us = server_cpu1 - server_cpu0;
    r.loadgen_cpu_us = loadgen_cpu1 - loadgen_cpu0;
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
