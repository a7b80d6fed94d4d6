#pragma once
// What a process costs the kernel, counted by the kernel itself: system calls (in total and one
// by one), CPU migrations, instructions and cycles from perf_event_open(2); context switches
// and page faults from getrusage(2). KernelCounters counts the process that opens it: every
// thread it has at that moment and, by inheritance (inherit=1), every thread or process those
// create afterwards, io_uring's io-wq workers and SQPOLL thread included.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/unique_fd.hpp"

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
};
nlohmann::json snapshot_to_json(const KernelSnapshot& snapshot);
KernelSnapshot snapshot_from_json(const nlohmann::json& json);

// The system calls counted one by one (those this kernel has a tracepoint for): what the
// backends, the load generator and the harness call.
std::span<const char* const> breakdown_syscalls();

class KernelCounters {
 public:
  // Counts nothing; every counter is unavailable for `reason`.
  explicit KernelCounters(std::string reason);
  // Opens the counters on every thread of this process, each inherited by what it creates.
  // Never throws: what cannot be opened is reported unavailable with the reason.
  static KernelCounters open_for_this_process();
  KernelCounters(KernelCounters&&) = default;
  KernelCounters& operator=(KernelCounters&&) = default;

  KernelSnapshot snapshot() const;

 private:
  KernelCounters() = default;
  // Counters of one thread that existed at open time, read together: the first is the leader.
  struct Group {
    std::vector<std::string> names;
    std::vector<UniqueFd> fds;
  };
  std::vector<Group> groups_;
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
