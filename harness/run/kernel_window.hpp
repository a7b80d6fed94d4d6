#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/kernel/kernel_counters.hpp"

namespace mux {

class MeasuredServer;

// Both sides over the measured window: opened before the load generator starts its threads,
// read at the window's edges (start(), stop()), where measure() reads CPU time.
class KernelCounterWindow {
 public:
  // `server` may be null (`bench load`): that side is then reported uncounted. `sampling`:
  // system calls counted only in slices (harness/kernel/syscall_sampling.hpp).
  KernelCounterWindow(bool enabled, std::optional<SyscallSampling> sampling, MeasuredServer* server);
  ~KernelCounterWindow();
  KernelCounterWindow(const KernelCounterWindow&) = delete;
  KernelCounterWindow& operator=(const KernelCounterWindow&) = delete;
  // `end_ns`: when the window is due to end; `completed`: the requests completed so far (null
  // where the load does not count them live: then no sampling, said so).
  void start(std::uint64_t end_ns, std::function<std::uint64_t()> completed);
  // Sampling: the next slice edge (UINT64_MAX: none), and the edges reached by `now` handled.
  std::uint64_t next_edge_ns() const;
  void tick(std::uint64_t now);
  void stop();
  // --loadgen-processes: a load process this one started, counted with this side from now on
  // (call before start()); forget it once reaped.
  void count_loadgen_process(pid_t pid);
  void forget_loadgen_process(pid_t pid);
  // {"server": ..., "loadgen": ...}
  nlohmann::ordered_json to_json(std::uint64_t requests) const;
  // This process's counts over the window (snapshot_window), once stopped.
  std::optional<KernelSnapshot> loadgen_window() const;

 private:
  std::optional<KernelSnapshot> server_snapshot();
  // Sampling: why it cannot be done (empty: it can), then each slice's edges.
  std::string sampling_refused(const std::function<std::uint64_t()>& completed) const;
  void begin_slice();
  void end_slice();

  bool enabled_;
  std::optional<SyscallSampling> sampling_;
  MeasuredServer* server_;
  // Sampling's state: the slices planned, the next one, the edge of the one in progress.
  std::string sampling_refused_, sampling_incomplete_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> slices_;
  std::size_t next_slice_ = 0;
  bool in_slice_ = false, detached_ = false, server_sampled_ = false;
  std::function<std::uint64_t()> completed_;
  std::uint64_t slice_begin_ns_ = 0, slice_completed_ = 0;
  BpfSyscallCounter::Counts slice_loadgen_{}, slice_server_{};
  SyscallSample loadgen_sample_, server_sample_;
  std::uint64_t start_ns_ = 0, stop_ns_ = 0;                    // bench's edges
  std::uint64_t server_delay0_ns_ = 0, server_delay1_ns_ = 0;  // how late the server answered
  KernelCounters loadgen_;
  std::size_t loadgen_processes_ = 0;  // load processes added to loadgen_
  KernelSnapshot loadgen0_, loadgen1_;
  std::optional<KernelSnapshot> server0_, server1_;
  bool stopped_ = false;
};

}  // namespace mux
