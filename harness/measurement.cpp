#include "harness/measurement.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>
#include <type_traits>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/limits.hpp"
#include "core/thread_cpu.hpp"
#include "harness/atomic_file.hpp"
#include "harness/kernel_counters.hpp"
#include "harness/load_shards.hpp"
#ifdef MUXBENCH_HAVE_MPI
#include "harness/mpi_load.hpp"
#endif
#include "harness/preflight.hpp"
#include "harness/measured_server.hpp"
#include "harness/transport.hpp"
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

// The load as the CLI gave it, with what only the run knows: the target's address and the
// source addresses planned for it.
LoadConfig load_config(const RunOptions& o, const SocketAddress& target) {
  LoadConfig config = o.load;
  config.target = target;
  config.sources = plan_sources(o, target);
  return config;
}

// Load processes report at the end only: no live counts to show.
template <class Load>
constexpr bool kLiveCounts = true;
template <>
constexpr bool kLiveCounts<LoadShards> = false;
#ifdef MUXBENCH_HAVE_MPI
template <>
constexpr bool kLiveCounts<MpiLoad> = false;
std::uint64_t completed_so_far(const MpiLoad&) { return 0; }
std::uint64_t errors_so_far(const MpiLoad&) { return 0; }
std::string load_failure(MpiLoad&) { return {}; }  // a missing rank shows at join()
#endif
std::uint64_t completed_so_far(const LoadGenerator& load) { return load.completed_so_far(); }
std::uint64_t completed_so_far(const LoadShards&) { return 0; }
std::uint64_t errors_so_far(const LoadGenerator& load) { return load.errors_so_far(); }
std::uint64_t errors_so_far(const LoadShards&) { return 0; }

// A load process that died: the run stops (one process alone: never; it is this one).
std::string load_failure(LoadGenerator&) { return {}; }
std::string load_failure(LoadShards& shards) { return shards.failure(); }

// One line, rewritten in place about once a second, only when stderr is a terminal.
template <class Load>
class ProgressLine {
 public:
  ProgressLine(const std::string& label, const Load& load)
      : label_(label), load_(load), enabled_(kLiveCounts<Load> && ::isatty(STDERR_FILENO) == 1), last_ns_(load.start_ns()) {}
  ~ProgressLine() {
    if (enabled_) std::fputs("\r\033[K", stderr);
  }
  void update(std::uint64_t now) {
    if (!enabled_ || now - last_ns_ < 1'000'000'000ULL) return;
    const std::uint64_t done = completed_so_far(load_);
    const double rate = static_cast<double>(done - last_done_) * 1e9 / static_cast<double>(now - last_ns_);
    const double t = static_cast<double>(now - load_.start_ns()) / 1e9;
    const double total = static_cast<double>(load_.end_ns() - load_.start_ns()) / 1e9;
    std::fputs(fmt::format("\r\033[K{:<9} {:5.1f}/{:.1f} s  {:<9} {:>10.0f} req/s  errors {}", label_, t, total,
                           now < load_.measure_start_ns() ? "warm-up" : "measuring", rate, errors_so_far(load_))
                   .c_str(),
               stderr);
    last_ns_ = now;
    last_done_ = done;
  }

 private:
  std::string label_;
  const Load& load_;
  bool enabled_;
  std::uint64_t last_ns_;
  std::uint64_t last_done_ = 0;
};

}  // namespace

namespace {

// What was read before the load connected: memory then is the baseline of memory per connection.
struct Baseline {
  double server_rss = 0;
  double loadgen_rss = 0;
  std::optional<double> tcp;
};

// The load's result, with one shard entry per load process (this one, or the children).
void join_load(LoadGenerator& load, const RunOptions& o, RunRecord& r) {
  r.load = load.join();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  r.shards.push_back({.pid = ::getpid(), .host = host, .clients = o.load.clients, .load = r.load, .cpu_us = {},
                      .memory_bytes = r.loadgen_memory_bytes, .kernel = {}, .failure = {}});
}

void join_load(LoadShards& load, const RunOptions& o, RunRecord& r) {
  // Each process ends its window at the end or at a stop, its threads within 50 ms, then
  // reports: one that has not within --timeout (at least 2 s, to write its result) is killed.
  r.shards = load.join(now_ns() + seconds_to_ns(std::max(o.load.timeout_s, 2.0)));
  for (const ShardReport& shard : r.shards) {
    if (shard.load) r.load.merge(*shard.load);
    if (r.loadgen_memory_bytes && shard.memory_bytes) *r.loadgen_memory_bytes += *shard.memory_bytes;
    if (!shard.failure.empty() && r.complete) {
      r.complete = false;
      r.incomplete_reason = shard.failure + "; the results are the other load processes'";
    }
  }
  if (o.load.rate <= 0) r.load.latency_uncorrected = r.load.latency;  // as LoadGenerator::join does
}

#ifdef MUXBENCH_HAVE_MPI
// Rank 0's own result first, then every other rank's, waited for until --timeout (at least 2 s).
void join_load(MpiLoad& load, const RunOptions& o, RunRecord& r) {
  r.shards = load.join(now_ns() + seconds_to_ns(std::max(o.load.timeout_s, 2.0)));
  // A serving rank 0 holds no connections: the load's memory is the load ranks' alone.
  if (load.root_loads())
    r.shards.front().memory_bytes = r.loadgen_memory_bytes;
  else if (r.loadgen_memory_bytes)
    r.loadgen_memory_bytes = 0.0;
  for (std::size_t i = 0; i < r.shards.size(); ++i) {
    const ShardReport& shard = r.shards[i];
    if (shard.load) r.load.merge(*shard.load);
    if ((i > 0 || !load.root_loads()) && r.loadgen_memory_bytes && shard.memory_bytes)
      *r.loadgen_memory_bytes += *shard.memory_bytes;
    if (!shard.failure.empty() && r.complete) {
      r.complete = false;
      r.incomplete_reason = shard.failure + "; the results are the other ranks'";
    }
  }
  if (o.load.rate <= 0) r.load.latency_uncorrected = r.load.latency;  // as LoadGenerator::join does
}
#endif

template <class Load>
RunRecord run_load(Load& load, KernelCounterWindow& kernel, const RunOptions& o, RunRecord r, const Baseline& before,
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
  ProgressLine<Load> progress(label, load);

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
      } else if (std::string why = load_failure(load); !why.empty()) {
        r.complete = false;
        r.incomplete_reason = why + "; the results are the other load processes'";
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
  kernel.start(load.end_ns(), kLiveCounts<Load> ? std::function<std::uint64_t()>([&load] { return completed_so_far(load); })
                                                : std::function<std::uint64_t()>());
  // Memory after the CPU sample: these /proc reads are not on the clock.
  if (server != nullptr && server->alive()) r.server_memory_bytes = static_cast<double>(server->resident_bytes()) - before.server_rss;
  // This process's; join_load() adds the load processes' own.
  r.loadgen_memory_bytes = static_cast<double>(resident_bytes()) - before.loadgen_rss;
  if (const auto tcp1 = kernel_tcp_bytes(); o.transport == kTransportUnix)
    r.kernel_tcp_memory_unknown_reason = "the connections are Unix domain sockets, which take no TCP memory, and "
                                         "the kernel keeps no total of Unix socket memory";
  else if (before.tcp && tcp1)
    r.kernel_tcp_memory_bytes = *tcp1 - *before.tcp;
  else
    r.kernel_tcp_memory_unknown_reason = "/proc/net/sockstat could not be read";
  if (warmed_up) wait_until(load.end_ns());  // an early stop ends the load generator's window here
  const CpuSample cpu1 = sample_cpu(server);
  kernel.stop();
  if (server != nullptr) mark_unresponsive(r, *server);

  join_load(load, o, r);
  r.kernel_counters = kernel.to_json(r.load.requests);
  // The load generator owns the window: requests were counted in exactly this interval.
  r.measured_s = load.measured_window().seconds();
  // A closed loop keeps a request outstanding on every connection: a whole window without a
  // reply, and no error to say why, means nothing was measured (a stalled server, or requests
  // longer than the window), not a run of zero requests per second with zero errors.
  if (r.complete && !o.open_loop() && o.load.clients > 0 && r.load.requests == 0 && r.load.errors.total() == 0 &&
      r.measured_s > 0) {
    r.complete = false;
    r.incomplete_reason = fmt::format(
        "no reply arrived in the {:.3g} s measured window although each of the {} clients had a request "
        "outstanding: the server stalled, or a request takes longer than the window (raise --duration)",
        r.measured_s, o.load.clients);
  }
  if (r.measured_s <= 0) {
    r.server_cpu_unknown_reason = kNothingMeasured;
    return r;
  }
  r.loadgen_cpu_us = cpu1.loadgen_us - cpu0.loadgen_us;
  if constexpr (std::is_same_v<Load, LoadGenerator>) {
    r.shards.front().cpu_us = r.loadgen_cpu_us;
  } else {
#ifdef MUXBENCH_HAVE_MPI
    if constexpr (std::is_same_v<Load, MpiLoad>) {
      // Rank 0 is one of the shards, or (serving) a coordinator whose own CPU is not the load's.
      if (load.root_loads()) r.shards.front().cpu_us = r.loadgen_cpu_us;
      r.loadgen_cpu_us = 0.0;
    }
#endif
    for (const ShardReport& shard : r.shards) {
      if (shard.cpu_us) *r.loadgen_cpu_us += *shard.cpu_us;
      else r.loadgen_cpu_us.reset();  // a process that died: the total is unknown
      if (!r.loadgen_cpu_us) break;
    }
  }
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
  return r;
}

}  // namespace

RunRecord measure(const RunOptions& o, const std::string& label, const SocketAddress& target, MeasuredServer* server,
                  const std::function<void()>& on_connected) {
  // This thread samples the CPU at the edges of the measured interval: wake it on time.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  RunRecord r;
  r.backend = label;
  r.server_address = target.to_string();
  const Baseline before{.server_rss = server ? static_cast<double>(server->resident_bytes()) : 0,
                        .loadgen_rss = static_cast<double>(resident_bytes()),
                        .tcp = kernel_tcp_bytes()};
  const LoadConfig config = load_config(o, target);
  // Before the load: the threads it starts inherit the counters, the processes it starts are
  // added to them.
  KernelCounterWindow kernel(o.counters, o.counters_sampling, server);
  if (o.loadgen_processes > 1) {
    LoadShards load(
        config, o.loadgen_processes, [&kernel](pid_t pid) { kernel.count_loadgen_process(pid); },
        [&kernel](pid_t pid) { kernel.forget_loadgen_process(pid); });
    return run_load(load, kernel, o, std::move(r), before, server, on_connected);
  }
  LoadGenerator load(config);
  return run_load(load, kernel, o, std::move(r), before, server, on_connected);
}

#ifdef MUXBENCH_HAVE_MPI
RunRecord measure_mpi(const RunOptions& o, const std::string& label, const SocketAddress& target, const MpiWorld& world,
                      const std::function<void()>& on_connected, const MpiServing& serving) {
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  RunRecord r;
  r.backend = label;
  r.server_address = target.to_string();
  MeasuredServer* server = serving.server;
  const Baseline before{.server_rss = server ? static_cast<double>(server->resident_bytes()) : 0,
                        .loadgen_rss = static_cast<double>(resident_bytes()),
                        .tcp = kernel_tcp_bytes()};
  MpiLoad load(load_config(o, target), world, serving.root_serves, o.counters);
  if (!world.root()) {
    load.run_rank(before.loadgen_rss, serving.rank_error);
    return r;
  }
  // The server, where rank 0 runs it, is counted as `bench` counts its own; so is rank 0's own
  // process. The load side is the load ranks' counts added up (rank 0's among them when it loads).
  KernelCounterWindow kernel(o.counters, o.counters_sampling, server);
  r = run_load(load, kernel, o, std::move(r), before, server, on_connected);
  if (o.counters) r.kernel_counters["loadgen"] = add_up_load_ranks(load.root_loads(), kernel.loadgen_window(), r.shards, r.load.requests);
  r.mpi = load.describe();
  // /proc/net/sockstat is rank 0's network's: where a load rank runs on another host, the
  // load side's TCP memory is not in it.
  if (server && r.mpi["distinct_hosts"].get<std::size_t>() > 1 && r.kernel_tcp_memory_bytes) {
    r.kernel_tcp_memory_bytes.reset();
    r.kernel_tcp_memory_unknown_reason = "load ranks run on other hosts, whose TCP memory rank 0 does not see";
  }
  return r;
}
#endif

void mark_unresponsive(RunRecord& r, const MeasuredServer& server) {
  const std::string why = server.unresponsive_reason();
  if (why.empty() || r.incomplete_reason.find(why) != std::string::npos) return;
  r.incomplete_reason = r.complete ? why : r.incomplete_reason + "; " + why;
  r.complete = false;
}

std::vector<std::string> publish(const RunOptions& o, const RunRecord& record, const nlohmann::ordered_json& environment) {
  std::fputs(table_row(o, record).c_str(), stdout);
  std::fflush(stdout);
  std::vector<std::string> failed;
  const auto write = [&](const char* flag, const std::string& path, const std::function<std::string()>& content) {
    if (path.empty()) return;
    try {
      write_file_atomically(path_for(o, path, record.backend), content());
    } catch (const std::exception& e) {
      failed.push_back(fmt::format("{}: {}", flag, e.what()));
    }
  };
  write("--json", o.json_path, [&] { return to_json(o, record, environment).dump(2) + "\n"; });
  write("--hgrm", o.hgrm_path, [&] { return to_hgrm(record.load.latency); });
  return failed;
}

}  // namespace mux
