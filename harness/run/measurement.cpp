#include "harness/run/measurement.hpp"

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
#include "harness/kernel/kernel_counters.hpp"
#include "harness/load/load_shards.hpp"
#include "harness/load/measured_load.hpp"
#include "harness/run/kernel_window.hpp"
#include "harness/run/preflight.hpp"
#include "harness/server/measured_server.hpp"
#include "harness/spec/transport.hpp"
#include "loadgen/load_generator.hpp"

namespace mux {
namespace {

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
  std::optional<std::map<pid_t, SchedTimes>> server_threads;
  std::size_t server_thread_count = 0;
};

CpuSample sample_cpu(MeasuredServer* server) {
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

// One line, rewritten in place about once a second, only when stderr is a terminal.
class ProgressLine {
 public:
  ProgressLine(const std::string& label, const MeasuredLoad& load)
      : label_(label), load_(load), enabled_(load.completed_so_far() && ::isatty(STDERR_FILENO) == 1), last_ns_(load.start_ns()) {}
  ~ProgressLine() {
    if (enabled_) std::fputs("\r\033[K", stderr);
  }
  void update(std::uint64_t now) {
    if (!enabled_ || now - last_ns_ < 1'000'000'000ULL) return;
    const std::uint64_t done = load_.completed_so_far().value_or(0);
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
  const MeasuredLoad& load_;
  bool enabled_;
  std::uint64_t last_ns_;
  std::uint64_t last_done_ = 0;
};

// Every part's report, merged; this process's own CPU and memory are measured here, so its
// report (own_shard()) gets them, and a coordinating process's count with the load's or not.
void join_load(MeasuredLoad& load, const RunOptions& o, RunRecord& r) {
  // Each part ends its window at the end or at a stop, its threads within 50 ms, then reports:
  // one that has not within --timeout (at least 2 s, to write its result) is given up.
  r.shards = load.join(now_ns() + seconds_to_ns(std::max(o.load.timeout_s, 2.0)));
  const std::optional<std::size_t> own = load.own_shard();
  if (own) r.shards[*own].memory_bytes = r.loadgen_memory_bytes;
  else if (!load.coordinator_is_load() && r.loadgen_memory_bytes) r.loadgen_memory_bytes = 0.0;
  for (std::size_t i = 0; i < r.shards.size(); ++i) {
    const ShardReport& shard = r.shards[i];
    if (shard.load) r.load.merge(*shard.load);
    if (i != own && r.loadgen_memory_bytes && shard.memory_bytes) *r.loadgen_memory_bytes += *shard.memory_bytes;
    if (!shard.failure.empty() && r.complete) {
      r.complete = false;
      r.incomplete_reason = fmt::format("{}; the results are the other {}'", shard.failure, load.parts());
    }
  }
  if (o.load.rate <= 0) r.load.latency_uncorrected = r.load.latency;  // as LoadGenerator::join does
}

// The load's CPU over the window: this process's own (its report's, or a coordinator's that
// counts) plus every other part's; unknown when a part died.
void add_load_cpu(const MeasuredLoad& load, double own_cpu_us, RunRecord& r) {
  const std::optional<std::size_t> own = load.own_shard();
  if (own) r.shards[*own].cpu_us = own_cpu_us;
  r.loadgen_cpu_us = own || load.coordinator_is_load() ? own_cpu_us : 0.0;
  for (std::size_t i = 0; i < r.shards.size() && r.loadgen_cpu_us; ++i) {
    if (i == own) continue;
    if (r.shards[i].cpu_us) *r.loadgen_cpu_us += *r.shards[i].cpu_us;
    else r.loadgen_cpu_us.reset();  // a part that died: the total is unknown
  }
}

// The memory the run added: the server's and this process's resident sets, the kernel's TCP
// buffers (the load processes' own come with join_load()).
void record_memory(const RunOptions& o, const Baseline& before, MeasuredServer* server, RunRecord& r) {
  if (server != nullptr && server->alive()) r.server_memory_bytes = static_cast<double>(server->resident_bytes()) - before.server_rss;
  r.loadgen_memory_bytes = static_cast<double>(resident_bytes()) - before.loadgen_rss;
  if (const auto tcp1 = kernel_tcp_bytes(); o.server.transport == kTransportUnix)
    r.kernel_tcp_memory_unknown_reason = "the connections are Unix domain sockets, which take no TCP memory, and "
                                         "the kernel keeps no total of Unix socket memory";
  else if (before.tcp && tcp1)
    r.kernel_tcp_memory_bytes = *tcp1 - *before.tcp;
  else
    r.kernel_tcp_memory_unknown_reason = "/proc/net/sockstat could not be read";
}

// A closed loop keeps a request outstanding on every connection: a whole window without a
// reply, and no error to say why, means nothing was measured (a stalled server, or requests
// longer than the window), not a run of zero requests per second with zero errors.
void check_replies_arrived(const RunOptions& o, RunRecord& r) {
  if (!r.complete || o.open_loop() || o.load.clients == 0 || r.load.requests != 0 || r.load.errors.total() != 0 ||
      r.measured_s <= 0)
    return;
  r.complete = false;
  r.incomplete_reason = fmt::format(
      "no reply arrived in the {:.3g} s measured window although each of the {} clients had a request "
      "outstanding: the server stalled, or a request takes longer than the window (raise --duration)",
      r.measured_s, o.load.clients);
}

// The threads' CPU over the window: the load generator's from its own counts, the server's
// from the two samples (or why it is not known).
void record_cpu(MeasuredServer* server, const CpuSample& cpu0, const CpuSample& cpu1, RunRecord& r) {
  ThreadCpuUse load_threads;
  load_threads.busiest_on_cpu_ns = 0;
  load_threads.busiest_demand_ns = 0;
  for (std::size_t i = 0; i < r.load.thread_cpu_ns.size(); ++i)
    load_threads.add({.on_cpu_ns = r.load.thread_cpu_ns[i],
                      .waiting_ns = i < r.load.thread_waiting_ns.size() ? r.load.thread_waiting_ns[i] : 0});
  r.loadgen_threads = load_threads;
  if (server == nullptr) {
    r.server_cpu_unknown_reason = "bench load: the server is not started by bench, so its CPU is not measured";
  } else if (!server->unresponsive_reason().empty()) {
    r.server_cpu_unknown_reason = server->unresponsive_reason();
  } else if (!server->alive() || !cpu0.server_us || !cpu1.server_us) {
    r.server_cpu_unknown_reason = "the server process ended during the run";
  } else {
    r.server_cpu_us = *cpu1.server_us - *cpu0.server_us;
    if (cpu0.server_threads && cpu1.server_threads) {
      r.server_threads = thread_cpu_use(*cpu0.server_threads, *cpu1.server_threads);
    } else {
      r.server_threads = ThreadCpuUse{.busiest_on_cpu_ns = std::nullopt, .busiest_demand_ns = std::nullopt,
                                      .threads = cpu1.server_thread_count};
      r.server_cpu_unknown_reason =
          fmt::format("the server's busiest thread is not measured: it has {} threads, more than the {} read one by one",
                      cpu1.server_thread_count, kMaxServerThreadsRead);
    }
  }
}

}  // namespace

RunRecord run_load(MeasuredLoad& load, KernelCounterWindow& kernel, const RunOptions& o, RunRecord r, const Baseline& before,
                   MeasuredServer* server, const std::function<void()>& on_connected) {
  const std::string& label = r.backend;
  // The clock starts once the server itself has accepted every connection (the kernel
  // completes connects before accept(); a thread-per-client server still has threads to make).
  load.start([&] {
    if (server == nullptr) return;
    const std::uint64_t deadline = now_ns() + seconds_to_ns(server_wait_s(o.load.timeout_s));
    while (server->alive() && server->unresponsive_reason().empty() && !server->has_accepted(o.load.clients + o.load.idle) &&
           now_ns() < deadline && !stop_signal())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  if (on_connected) on_connected();
  ProgressLine progress(label, load);

  // Sleeps until `deadline`, watching for Ctrl-C and for the server dying under us.
  auto wait_until = [&](std::uint64_t deadline) {
    for (std::uint64_t now; (now = now_ns()) < deadline;) {
      if (const int sig = stop_signal()) {
        r.complete = false;
        r.incomplete_reason = interrupted_by(sig);
      } else if (server != nullptr && !server->unresponsive_reason().empty()) {
        mark_unresponsive(r, *server);
      } else if (server != nullptr && !server->alive()) {
        r.complete = false;
        r.incomplete_reason = fmt::format("the {} server process {} during the run", label, server->exit_description());
      } else if (std::string why = load.failure(); !why.empty()) {
        r.complete = false;
        r.incomplete_reason = fmt::format("{}; the results are the other {}'", why, load.parts());
      }
      if (!r.complete) {
        load.request_stop();
        return false;
      }
      progress.update(now);
      kernel.tick(now);  // --counters=sampled: a slice's edge
      const std::uint64_t edge = kernel.next_edge_ns();
      const std::uint64_t wake = std::min({deadline, now + 20'000'000, edge > now ? edge : now});
      std::this_thread::sleep_for(std::chrono::nanoseconds(wake - now));
    }
    return true;
  };

  const bool warmed_up = wait_until(load.measure_start_ns());
  const CpuSample cpu0 = sample_cpu(server);
  kernel.start(load.end_ns(), load.completed_so_far() ? std::function<std::uint64_t()>([&load] { return *load.completed_so_far(); })
                                                    : std::function<std::uint64_t()>());
  // Memory after the CPU sample: these /proc reads are not on the clock.
  record_memory(o, before, server, r);
  if (warmed_up) wait_until(load.end_ns());  // an early stop ends the load generator's window here
  const CpuSample cpu1 = sample_cpu(server);
  kernel.stop();
  if (server != nullptr) mark_unresponsive(r, *server);

  join_load(load, o, r);
  r.kernel_counters = kernel.to_json(r.load.requests);
  // The load generator owns the window: requests were counted in exactly this interval.
  r.measured_s = load.measured_window().seconds();
  check_replies_arrived(o, r);
  if (r.measured_s <= 0) {
    r.server_cpu_unknown_reason = kNothingMeasured;
    return r;
  }
  add_load_cpu(load, cpu1.loadgen_us - cpu0.loadgen_us, r);
  record_cpu(server, cpu0, cpu1, r);
  return r;
}

LoadConfig load_config(const RunOptions& o, const SocketAddress& target) {
  LoadConfig config = o.load;
  config.target = target;
  config.sources = plan_sources(o, target);
  return config;
}

RunRecord new_record(const std::string& label, const SocketAddress& target) {
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // this thread samples the CPU at the window's edges: wake it on time
  RunRecord r;
  r.backend = label;
  r.server_address = target.to_string();
  return r;
}

Baseline read_baseline(MeasuredServer* server) {
  return {.server_rss = server ? static_cast<double>(server->resident_bytes()) : 0,
          .loadgen_rss = static_cast<double>(resident_bytes()),
          .tcp = kernel_tcp_bytes()};
}

RunRecord measure(const RunOptions& o, const std::string& label, const SocketAddress& target, MeasuredServer* server,
                  const std::function<void()>& on_connected) {
  RunRecord r = new_record(label, target);
  const Baseline before = read_baseline(server);
  const LoadConfig config = load_config(o, target);
  // Before the load: the threads it starts inherit the counters, the processes it starts are
  // added to them.
  KernelCounterWindow kernel(o.counters, o.counters_sampling, server);
  std::unique_ptr<MeasuredLoad> load;
  if (o.loadgen_processes > 1)
    load = std::make_unique<LoadShards>(
        config, o.loadgen_processes, [&kernel](pid_t pid) { kernel.count_loadgen_process(pid); },
        [&kernel](pid_t pid) { kernel.forget_loadgen_process(pid); });
  else
    load = std::make_unique<OneProcessLoad>(config, o.load.clients);
  return run_load(*load, kernel, o, std::move(r), before, server, on_connected);
}

void mark_unresponsive(RunRecord& r, const MeasuredServer& server) {
  const std::string why = server.unresponsive_reason();
  if (why.empty() || r.incomplete_reason.find(why) != std::string::npos) return;
  r.incomplete_reason = r.complete ? why : r.incomplete_reason + "; " + why;
  r.complete = false;
}

}  // namespace mux
