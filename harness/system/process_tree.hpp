#pragma once
// Every process bench starts (servers, a --server-cmd's whole tree, load processes, a sweep's
// runs) is held as one tree, so that none outlives bench, even when bench is killed with
// SIGKILL. PR_SET_PDEATHSIG alone cannot do it: it reaches only the direct child, and
// `/bin/sh -c 'a; b'` (dash) forks its commands, a server may double-fork or setsid.
//
// Two parts, started at the first spawn (harness/system/child_process.hpp):
//  - a cgroup v2 directory, muxbench-PID under this process's own cgroup (so a sweep's child
//    runs nest theirs inside the sweep's): every child joins it between fork and exec, and
//    whatever it forks stays in it, whatever it does (setsid, double fork): `bench serve`'s
//    worker processes (ChildSpec::join_tree false) are in bench's tree that way. cgroup.kill
//    (kernel 5.14+) ends them all at once; before 5.14 its members are killed one by one.
//  - a watchdog process, forked from bench, outside that cgroup, holding one end of a socket:
//    when bench dies, even by SIGKILL, the socket reaches EOF and the watchdog ends the cgroup,
//    waits until it is empty and removes it.
// Without a writable cgroup2 (not root, cgroup v1 only), the fallback: the watchdog ends the
// process groups and processes bench recorded (a leader checked by its start time, so a reused
// pid is never hit); a process that leaves its group (setsid) then escapes.
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "core/unique_fd.hpp"

namespace mux {

// The watchdog's name (/proc/PID/comm, what ps shows): a forked copy of bench, told apart by it.
inline constexpr const char* kWatchdogName = "bench-watchdog";

class ProcessTree {
 public:
  // This process's tree, made at the first call (cgroup and watchdog); lives until exit.
  static ProcessTree& get();
  ProcessTree(const ProcessTree&) = delete;
  ProcessTree& operator=(const ProcessTree&) = delete;
  // The normal end: whatever the stopped servers left in the cgroup (a daemon that escaped its
  // process group) is ended, the cgroup removed, the watchdog told to exit and reaped.
  ~ProcessTree();

  // In a child between fork and exec (async-signal-safe): moves it into the cgroup.
  void join_from_child() const noexcept;
  // In bench right after fork: the watchdog records the child (a process group's leader when
  // `group`), to end it should bench die before reaping it.
  void adopt(pid_t pid, bool group);
  // How the tree is held: "cgroup2 PATH" or "process groups (...: reason)".
  const std::string& mechanism() const { return mechanism_; }

 private:
  ProcessTree();
  void start_watchdog();

  pid_t owner_;               // bench: the process whose tree this is
  std::string cgroup_;        // the cgroup's directory; empty when none could be made
  UniqueFd cgroup_dir_;       // it, opened (O_PATH) for the cleanup's *at() calls
  UniqueFd parent_dir_;       // its parent: where its name is removed
  UniqueFd procs_;            // its cgroup.procs, which each child writes "0" to
  std::string mechanism_;
  UniqueFd watchdog_;         // bench's end of the socket; EOF at the other end: bench died
  pid_t watchdog_pid_ = -1;
  std::mutex mutex_;          // adopt() may be called from more than one thread
};

// Reads the start time of process `pid` (field 22 of /proc/PID/stat, clock ticks since boot):
// with the pid it names one process, never a later one given the same pid. 0 when it is gone.
// Async-signal-safe.
std::uint64_t process_start_time(pid_t pid) noexcept;

}  // namespace mux
