#pragma once
// What a process costs the kernel, counted by the kernel itself: system calls (in total and one
// by one) by an eBPF program on the raw tracepoint sys_enter (harness/kernel/bpf_syscall_counter.hpp),
// or, where bpf(2) is refused, by perf_event tracepoint events; CPU migrations, instructions and
// cycles from perf_event_open(2); context switches and page faults from getrusage(2).
// KernelCounters counts the process that opens it, every thread it has or creates (io_uring's
// io-wq workers and SQPOLL thread included). Processes it forks: see count_process().
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/unique_fd.hpp"
#include "harness/kernel/bpf_syscall_counter.hpp"
#include "harness/kernel/syscall_sampling.hpp"

namespace mux {


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
  std::string syscall_counting_method;             // eBPF: where its program runs (empty: not known here)
  std::string fentry_refused;                      // eBPF at the tracepoint: why not at fentry
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(KernelSnapshot, counts, unavailable, scaled, coverage,
                                                syscalls_counted_by, ebpf_refused, syscall_counting_method,
                                                fentry_refused)
// The server's reply: anything but an object (a server that counts nothing) is an empty snapshot.
KernelSnapshot snapshot_from_json(const nlohmann::json& json);

// getrusage(RUSAGE_SELF) counts one process: where processes it forked do the work, its
// context switches and page faults are reported as not counted (`why`), not undercounted.
void mark_rusage_not_counted(KernelSnapshot& snapshot, const std::string& why);

// The system calls listed one by one: what the backends, the load generator and the harness
// call (x86-64 numbers; the rest is summed as "other").
struct BreakdownSyscall {
  const char* name;
  long number;
};
std::span<const BreakdownSyscall> breakdown_syscalls();
// An eBPF slot's counts as a snapshot's: "syscalls" (the total) and "syscall:NAME" one by one.
void add_syscall_counts(const BpfSyscallCounter::Counts& counts, std::map<std::string, std::uint64_t>& into);

// `bench` hands a server it starts one slot of its eBPF syscall counter: the maps' fds, which
// the child inherits, the slot, and whether it counts migrations too
// (`bench serve --syscall-counter=JSON`, its fields by name).
struct SyscallCounterHandoff {
  int processes_fd = -1, counts_fd = -1;
  std::uint32_t slot = 0;
  bool migrations = false;  // bench's counter counts CPU migrations too
  std::string to_argument() const;
  // None unless the JSON has every field, the fds are fds and the slot is one of the counter's.
  static std::optional<SyscallCounterHandoff> parse(const std::string& argument);
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SyscallCounterHandoff, processes_fd, counts_fd, slot, migrations)

class KernelCounters {
 public:
  // Counts nothing; every counter is unavailable for `reason`.
  explicit KernelCounters(std::string reason);
  // Opens the counters on this process: system calls in a slot of this process's eBPF counter,
  // or of the one `handoff` names (a server started by `bench`), or else by perf_event; the perf
  // events on every thread, each inherited by what it creates. Never throws: what cannot be
  // opened is reported unavailable with the reason.
  static KernelCounters open_for_this_process(const std::optional<SyscallCounterHandoff>& handoff = std::nullopt);
  // Opens the counters on process `pid`, which this one forked and which has not yet started
  // a thread or process (it waits to exec): every event is a perf event on it, inherited by
  // every thread and process it creates, read from here (`--server-cmd`). Context switches
  // and page faults come from perf's software events, not getrusage.
  static KernelCounters open_for_process_tree(pid_t pid);
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
  // The eBPF slot this side's system calls are counted in (empty: perf_event counts them, or nothing).
  const BpfSlot& syscall_slot() const { return syscalls_; }

 private:
  KernelCounters() = default;
  struct EventSpec {
    std::string name;
    std::uint32_t type;
    std::uint64_t config;
  };
  void open_groups(const std::vector<pid_t>& tids, const std::vector<EventSpec>& software,
                   const std::vector<EventSpec>& hardware);
  void add_coverage(const std::string& text);
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
  bool rusage_self_ = true;  // context switches and page faults from getrusage(RUSAGE_SELF)
};

// What one process counted over its own measured window (after - before, counter by counter;
// a counter missing from either is unavailable with its reason): what an MPI load rank sends
// rank 0, where the counting cannot reach it.
KernelSnapshot snapshot_window(const KernelSnapshot& before, const KernelSnapshot& after);
// Several processes' windows added counter by counter (the load ranks'). A counter one of them
// lacks is unavailable in the sum, with that one's reason prefixed by its `labels` entry.
KernelSnapshot sum_windows(const std::vector<KernelSnapshot>& windows, const std::vector<std::string>& labels);
// kernel_window_json() of such a window (the counts from zero).
nlohmann::ordered_json window_json(const KernelSnapshot& window, std::uint64_t requests, const std::string& attribution);

// One side's counters over the measured window, per request (results.kernel_counters.server
// or .loadgen; schema in results/README.md). With `sample`, the system calls are those of the
// slices, per request completed in them (--counters=sampled).
nlohmann::ordered_json kernel_window_json(const KernelSnapshot& before, const KernelSnapshot& after,
                                          std::uint64_t requests, const std::string& attribution,
                                          const SyscallSample* sample = nullptr);

// One line per side for the notes under the table: counters not counted and why; with
// `breakdown`, the system calls per request one by one.
std::string kernel_counter_notes(const std::string& label, const nlohmann::ordered_json& kernel_counters, bool breakdown);

}  // namespace mux
