#pragma once
// CPU time of single threads, from /proc/.../schedstat (its first field: ns the thread ran, the
// scheduler's own counter, not 10 ms ticks). A process total divided by its cores cannot show
// a saturated thread: one busy event loop on two cores reads 50%. Per-thread figures can.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mux {

// A thread's first two schedstat fields: ns it ran, and ns it waited on a run queue, ready to
// run while the CPU ran something else. Their sum is the time it had work: a busy loop that
// other processes keep off its core runs less than the window but has work all of it.
struct SchedTimes {
  std::uint64_t on_cpu_ns = 0;
  std::uint64_t waiting_ns = 0;
  std::uint64_t demand_ns() const { return on_cpu_ns + waiting_ns; }
};
// Since `start`; a counter that went back (a reused id, a new thread) counts from zero.
SchedTimes sched_times_since(const SchedTimes& start, const SchedTimes& end);

// One thread: `path` is a schedstat file, e.g. /proc/thread-self/schedstat.
std::optional<SchedTimes> read_thread_sched(const std::string& path);
// Threads process `pid` has now (0 when it is gone).
std::size_t process_thread_count(pid_t pid);
// CPU time of every thread of `pid`, by thread id. Null when it has more than `max_threads`
// (a file each: thousands would take seconds at the edge of the measured interval) or is gone.
std::optional<std::map<pid_t, SchedTimes>> read_process_thread_cpu(pid_t pid, std::size_t max_threads);
// The same over several processes (a server and its workers): their threads together, null when
// they have more than `max_threads` in all or any is gone.
std::optional<std::map<pid_t, SchedTimes>> read_processes_thread_cpu(const std::vector<pid_t>& pids,
                                                                     std::size_t max_threads);
std::size_t processes_thread_count(const std::vector<pid_t>& pids);
// Their resident sets summed, bytes (/proc/PID/statm; 0 for one that is gone). Pages a forked
// worker still shares with its parent count in each: an overestimate of a few MiB per worker.
std::uint64_t processes_resident_bytes(const std::vector<pid_t>& pids);
// Their user + system CPU time from /proc/PID/stat, µs, in clock ticks (10 ms): the fallback
// where nothing finer answers. 0 for one that is gone.
double processes_stat_cpu_us(const std::vector<pid_t>& pids);

// What the threads of one side did over a window.
struct ThreadCpuUse {
  std::optional<std::uint64_t> busiest_on_cpu_ns;  // the thread that ran most; null: not read one by one
  // The thread that had work longest: ran or waited ready to run (null: not read one by one).
  std::optional<std::uint64_t> busiest_demand_ns;
  std::size_t threads = 0;  // threads that ran (not read one by one: threads at the end of the window)
  void add(const SchedTimes& used);
};

// From two samples: threads that began during the window count from zero; threads that ended
// during it are missing from `after` and not counted.
ThreadCpuUse thread_cpu_use(const std::map<pid_t, SchedTimes>& before, const std::map<pid_t, SchedTimes>& after);

}  // namespace mux
