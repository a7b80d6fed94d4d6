#include "core/thread_cpu.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "core/proc_files.hpp"

namespace mux {

std::optional<SchedTimes> read_thread_sched(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return std::nullopt;
  unsigned long long on_cpu = 0, waiting = 0;
  const int fields = std::fscanf(f, "%llu %llu", &on_cpu, &waiting);
  std::fclose(f);
  if (fields != 2) return std::nullopt;
  return SchedTimes{.on_cpu_ns = on_cpu, .waiting_ns = waiting};
}

SchedTimes sched_times_since(const SchedTimes& start, const SchedTimes& end) {
  const auto since = [](std::uint64_t a, std::uint64_t b) { return b >= a ? b - a : b; };
  return {.on_cpu_ns = since(start.on_cpu_ns, end.on_cpu_ns), .waiting_ns = since(start.waiting_ns, end.waiting_ns)};
}

std::size_t process_thread_count(pid_t pid) {
  std::FILE* f = std::fopen(fmt::format("/proc/{}/status", pid).c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  std::size_t threads = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "Threads:", 8) == 0) threads = std::strtoull(line + 8, nullptr, 10);
  std::fclose(f);
  return threads;
}

std::optional<std::map<pid_t, SchedTimes>> read_process_thread_cpu(pid_t pid, std::size_t max_threads) {
  const std::size_t count = process_thread_count(pid);
  if (count == 0 || count > max_threads) return std::nullopt;
  const std::string dir = fmt::format("/proc/{}/task", pid);
  std::map<pid_t, SchedTimes> threads;
  for (const pid_t tid : numeric_entries(dir))
    if (const auto t = read_thread_sched(fmt::format("{}/{}/schedstat", dir, tid))) threads[tid] = *t;
  if (threads.empty()) return std::nullopt;
  return threads;
}

std::size_t processes_thread_count(const std::vector<pid_t>& pids) {
  std::size_t threads = 0;
  for (const pid_t pid : pids) threads += process_thread_count(pid);
  return threads;
}

double processes_stat_cpu_us(const std::vector<pid_t>& pids) {
  double ticks = 0;
  for (const pid_t pid : pids) {
    const std::string text = read_proc_file(fmt::format("/proc/{}/stat", pid));  // "" once it exited
    unsigned long utime = 0, stime = 0;  // fields 14 and 15, after the ")" that ends the name
    const auto paren = text.rfind(')');
    if (paren != std::string::npos &&
        std::sscanf(text.c_str() + paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
      ticks += static_cast<double>(utime + stime);
  }
  return ticks * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::uint64_t processes_resident_bytes(const std::vector<pid_t>& pids) {
  std::uint64_t bytes = 0;
  for (const pid_t pid : pids) {
    std::ifstream in(fmt::format("/proc/{}/statm", pid));
    std::uint64_t pages = 0, resident = 0;
    in >> pages >> resident;
    if (in) bytes += resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  return bytes;
}

std::optional<std::map<pid_t, SchedTimes>> read_processes_thread_cpu(const std::vector<pid_t>& pids,
                                                                     std::size_t max_threads) {
  if (pids.empty() || processes_thread_count(pids) > max_threads) return std::nullopt;
  std::map<pid_t, SchedTimes> threads;
  for (const pid_t pid : pids) {
    auto one = read_process_thread_cpu(pid, max_threads);
    if (!one) return std::nullopt;
    threads.merge(*one);
  }
  return threads;
}

void ThreadCpuUse::add(const SchedTimes& used) {
  if (used.on_cpu_ns == 0) return;
  busiest_on_cpu_ns = std::max(busiest_on_cpu_ns.value_or(0), used.on_cpu_ns);
  busiest_demand_ns = std::max(busiest_demand_ns.value_or(0), used.demand_ns());
  ++threads;
}

ThreadCpuUse thread_cpu_use(const std::map<pid_t, SchedTimes>& before, const std::map<pid_t, SchedTimes>& after) {
  ThreadCpuUse use;
  use.busiest_on_cpu_ns = 0;  // read one by one, even if none ran
  use.busiest_demand_ns = 0;
  for (const auto& [tid, end] : after) {
    const auto start = before.find(tid);
    use.add(sched_times_since(start == before.end() ? SchedTimes{} : start->second, end));
  }
  return use;
}

}  // namespace mux
