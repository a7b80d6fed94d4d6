#pragma once
// What a process costs the kernel, counted by the kernel itself: system calls (in total and one
// by one) by an eBPF program on the raw tracepoint sys_enter (harness/bpf_syscall_counter.hpp),
// or, where bpf(2) is refused, by perf_event tracepoint events; CPU migrations, instructions and
// cycles from perf_event_open(2); context switches and page faults from getrusage(2).
// KernelCounters counts the process that opens it, every thread it has or creates (io_uring's
// io-wq workers and SQPOLL thread included). Processes it forks: see count_process().
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/unique_fd.hpp"
#include "harness/bpf_syscall_counter.hpp"

namespace mux {

class ServerProcess;

inline constexpr const char* kCountersTurnedOff = "turned off by --counters=off";

// Cumulative counts since the counters were opened, and why any is missing. The server sends
// it to `bench` over its control pipe as one line of JSON.
struct KernelSnapshot {
  std::map<std::string, std::uint64_t> counts;     // "syscalls", "syscall:read", "page_faults", ...
  std::map<std::string, std::string> unavailable;  // counter -> why it is not counted
  std::vector<std::string> scaled;                 // counters the kernel multiplexed: extrapolated
  std::string coverage;                            // threads that may have escaped counting, if any
  std::string syscalls_counted_by;                 // "ebpf" or "perf_event" (empty: not counted)
  std::string ebpf_refused;                        // why not eBPF, where perf_event counted instead
};
nlohmann::json snapshot_to_json(const KernelSnapshot& snapshot);
KernelSnapshot snapshot_from_json(const nlohmann::json& json);

// The system calls listed one by one: what the backends, the load generator and the harness
// call (x86-64 numbers; the rest is summed as "other").
struct BreakdownSyscall {
  const char* name;
  long number;
};
std::span<const BreakdownSyscall> breakdown_syscalls();

// `bench` hands a server it starts one slot of its eBPF syscall counter: the maps' fds, which
// the child inherits, the slot, and whether it counts migrations too
// (`bench serve --syscall-counter=PROCESSES_FD,COUNTS_FD,SLOT,MIGRATIONS`).
struct SyscallCounterHandoff {
  int processes_fd = -1, counts_fd = -1;
  std::uint32_t slot = 0;
  bool migrations = false;  // bench's counter counts CPU migrations too
  std::string to_argument() const;
  static std::optional<SyscallCounterHandoff> parse(const std::string& argument);
};

class KernelCounters {
 public:
  // Counts nothing; every counter is unavailable for `reason`.
  explicit KernelCounters(std::string reason);
  // Opens the counters on this process: system calls in a slot of this process's eBPF counter,
  // or of the one `handoff` names (a server started by `bench`), or else by perf_event; the perf
  // events on every thread, each inherited by what it creates. Never throws: what cannot be
  // opened is reported unavailable with the reason.
  static KernelCounters open_for_this_process(const std::optional<SyscallCounterHandoff>& handoff = std::nullopt);
  KernelCounters(KernelCounters&&) = default;
  KernelCounters& operator=(KernelCounters&&) = default;

  // Adds the system calls of process `pid` (a worker process this one forked) to this side's
  // count; call it right after fork(), before the child does its work. With eBPF this is
  // needed: the program counts process ids, not what they fork. With perf_event the child is
  // counted already, by inheritance (nothing to do). Its context switches and page faults are
  // not added (getrusage counts this process): the JSON's coverage says so. False with `*why`
  // set if it cannot be counted (said in the coverage too).
  bool count_process(pid_t pid, std::string* why);
  // Stops counting `pid` once it is reaped, before its id can be reused (eBPF only).
  void forget_process(pid_t pid);

  KernelSnapshot snapshot() const;

 private:
  KernelCounters() = default;
  // Counters of one thread that existed at open time, read together: the first is the leader.
  struct Group {
    std::vector<std::string> names;
    std::vector<UniqueFd> fds;
  };
  std::vector<Group> groups_;
  BpfSlot syscalls_;        // eBPF: system calls counted in this slot
  std::string ebpf_refused_;  // why perf_event counts the system calls instead
  std::size_t processes_added_ = 0;
  std::map<std::string, std::string> unavailable_;
  std::string coverage_;
  std::string off_reason_;  // non-empty: nothing counted, not even getrusage
};

// One side's counters over the measured window, per request (results.kernel_counters.server
// or .loadgen; schema in results/README.md).
nlohmann::ordered_json kernel_window_json(const KernelSnapshot& before, const KernelSnapshot& after,
                                          std::uint64_t requests, const std::string& attribution);

// Both sides over the measured window: opened before the load generator starts its threads,
// read at the window's edges (start(), stop()), where measure() reads CPU time.
class KernelCounterWindow {
 public:
  // `server` may be null (`bench load`): that side is then reported uncounted.
  KernelCounterWindow(bool enabled, ServerProcess* server);
  void start();
  void stop();
  // {"server": ..., "loadgen": ...}
  nlohmann::ordered_json to_json(std::uint64_t requests) const;

 private:
  std::optional<KernelSnapshot> server_snapshot();

  bool enabled_;
  ServerProcess* server_;
  std::uint64_t start_ns_ = 0, stop_ns_ = 0;                    // bench's edges
  std::uint64_t server_delay0_ns_ = 0, server_delay1_ns_ = 0;  // how late the server answered
  KernelCounters loadgen_;
  KernelSnapshot loadgen0_, loadgen1_;
  std::optional<KernelSnapshot> server0_, server1_;
  bool stopped_ = false;
};

// One line per side for the notes under the table: counters not counted and why; with
// `breakdown`, the system calls per request one by one.
std::string kernel_counter_notes(const std::string& label, const nlohmann::ordered_json& kernel_counters, bool breakdown);

}  // namespace mux
