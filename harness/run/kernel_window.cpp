// Both sides' kernel counters over the measured window, read at its edges (harness/run/kernel_window.hpp).
#include "harness/run/kernel_window.hpp"

#include <fmt/format.h>

#include "core/clock.hpp"
#include "harness/server/measured_server.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

// What each side's numbers include (results.kernel_counters.*.attribution).
constexpr const char* kLoadgenAttribution =
    "the bench process: the load generator's threads and the main thread, which watches the clock (about 50 "
    "sleeps a second) and asks the server for its counters at the window's edges; system calls counted by "
    "process id (eBPF) or by inherited perf tracepoint events (perf_event); context switches and page faults "
    "from getrusage(RUSAGE_SELF)";

// Everything null for one reason: a side that is not counted at all.
std::string loadgen_processes_reason(std::size_t processes) {
  return fmt::format("getrusage counts one process, and --loadgen-processes={} runs the load in processes whose "
                     "counts it does not see",
                     processes);
}

ordered_json uncounted_side(const std::string& reason, const std::string& attribution) {
  const KernelSnapshot nothing = KernelCounters(reason).snapshot();
  return kernel_window_json(nothing, nothing, 0, attribution);
}

}  // namespace

KernelCounterWindow::KernelCounterWindow(bool enabled, std::optional<SyscallSampling> sampling, MeasuredServer* server)
    : enabled_(enabled),
      sampling_(enabled ? sampling : std::nullopt),
      server_(server),
      loadgen_(enabled ? KernelCounters::open_for_this_process() : KernelCounters(kCountersTurnedOff)) {}

KernelCounterWindow::~KernelCounterWindow() {
  // Attached again for whoever holds the counter next (a server or window after this one checks
  // that it sees its own calls); a failure here leaves them to fall back to perf_event, saying so.
  std::string why;
  if (detached_) loadgen_.syscall_slot().counter().reattach(&why);
}

std::optional<KernelSnapshot> KernelCounterWindow::loadgen_window() const {
  if (!stopped_) return std::nullopt;
  return snapshot_window(loadgen0_, loadgen1_);
}

std::optional<KernelSnapshot> KernelCounterWindow::server_snapshot() {
  if (!enabled_ || server_ == nullptr) return std::nullopt;
  return server_->kernel_snapshot();
}

void KernelCounterWindow::count_loadgen_process(pid_t pid) {
  std::string why;
  loadgen_.count_process(pid, &why);  // when refused, the coverage says so
  ++loadgen_processes_;
}

void KernelCounterWindow::forget_loadgen_process(pid_t pid) { loadgen_.forget_process(pid); }

std::string KernelCounterWindow::sampling_refused(const std::function<std::uint64_t()>& completed) const {
  const BpfSlot& slot = loadgen_.syscall_slot();
  if (!slot)
    return "the system calls are counted by perf_event tracepoint events here (eBPF is refused); those are opened "
           "on each thread of each process and keep the tracepoint registered while open, so slices would mean "
           "reopening every thread's events in both processes at every edge: counted over the whole window instead";
  if (!slot.counter().can_detach()) return "this process did not load the eBPF program, so it cannot detach it";
  if (!completed)
    return "the load processes (--loadgen-processes, or MPI ranks) report their requests only at the end, so the requests of a "
           "slice are not known: counted over the whole window instead";
  return {};
}

void KernelCounterWindow::start(std::uint64_t end_ns, std::function<std::uint64_t()> completed) {
  start_ns_ = now_ns();
  loadgen0_ = loadgen_.snapshot();
  if (loadgen_processes_ > 0) mark_rusage_not_counted(loadgen0_, loadgen_processes_reason(loadgen_processes_));
  server0_ = server_snapshot();
  server_delay0_ns_ = now_ns() - start_ns_;
  if (!sampling_) return;
  sampling_refused_ = sampling_refused(completed);
  if (!sampling_refused_.empty()) return;
  completed_ = std::move(completed);
  // The server's calls are sampled where it counts in bench's program: bench reads its slot.
  server_sampled_ = server0_ && server0_->syscalls_counted_by == "ebpf" && server_->syscall_counts().has_value();
  slices_ = plan_slices(*sampling_, start_ns_, std::max(end_ns, start_ns_));
  for (SyscallSample* sample : {&loadgen_sample_, &server_sample_}) sample->duty = sampling_->duty;
  loadgen_.syscall_slot().counter().detach();
  detached_ = true;
  tick(now_ns());
}

std::uint64_t KernelCounterWindow::next_edge_ns() const {
  if (next_slice_ >= slices_.size()) return UINT64_MAX;
  return in_slice_ ? slices_[next_slice_].second : slices_[next_slice_].first;
}

void KernelCounterWindow::tick(std::uint64_t now) {
  if (next_slice_ >= slices_.size()) return;
  if (!in_slice_ && now >= slices_[next_slice_].first) begin_slice();
  if (in_slice_ && now >= slices_[next_slice_].second) end_slice();
}

// The calls are read after attaching and before detaching, the requests inside that: a slice's
// calls span its requests' (by a few µs at each edge).
void KernelCounterWindow::begin_slice() {
  std::string why;
  if (!loadgen_.syscall_slot().counter().reattach(&why)) {
    sampling_incomplete_ = fmt::format("attaching the eBPF program for slice {} of {} failed ({}): the slices after "
                                       "it are not counted",
                                       next_slice_ + 1, slices_.size(), why);
    next_slice_ = slices_.size();
    return;
  }
  slice_loadgen_ = loadgen_.syscall_slot().counter().read(loadgen_.syscall_slot().slot());
  if (server_sampled_) slice_server_ = server_->syscall_counts().value_or(BpfSyscallCounter::Counts{});
  slice_completed_ = completed_();
  slice_begin_ns_ = now_ns();
  in_slice_ = true;
}

void KernelCounterWindow::end_slice() {
  const std::uint64_t end = now_ns();
  const std::uint64_t completed = completed_();
  const BpfSyscallCounter::Counts loadgen = loadgen_.syscall_slot().counter().read(loadgen_.syscall_slot().slot());
  const auto server = server_sampled_ ? server_->syscall_counts() : std::nullopt;
  loadgen_.syscall_slot().counter().detach();
  in_slice_ = false;
  ++next_slice_;
  const auto add = [&](SyscallSample& sample, const BpfSyscallCounter::Counts& before,
                       const BpfSyscallCounter::Counts& after) {
    for (std::size_t n = 0; n < after.size(); ++n) sample.counts[n] += after[n] - before[n];
    sample.requests += completed - slice_completed_;
    sample.covered_ns += end - slice_begin_ns_;
    ++sample.slices;
  };
  add(loadgen_sample_, slice_loadgen_, loadgen);
  if (server) add(server_sample_, slice_server_, *server);
}

void KernelCounterWindow::stop() {
  if (in_slice_) end_slice();  // the window ended early (a stop, a failure)
  stop_ns_ = now_ns();
  loadgen1_ = loadgen_.snapshot();
  if (loadgen_processes_ > 0) mark_rusage_not_counted(loadgen1_, loadgen_processes_reason(loadgen_processes_));
  server1_ = server_snapshot();
  server_delay1_ns_ = now_ns() - stop_ns_;
  stopped_ = true;
  for (SyscallSample* sample : {&loadgen_sample_, &server_sample_}) sample->window_ns = stop_ns_ - start_ns_;
}

ordered_json KernelCounterWindow::to_json(std::uint64_t requests) const {
  const bool sampled = sampling_ && detached_;
  const SyscallSample* server_sample = sampled && server_sampled_ ? &server_sample_ : nullptr;
  const SyscallSample* loadgen_sample = sampled ? &loadgen_sample_ : nullptr;
  // --counters=sampled where a side could not be sampled: counted exactly, and why.
  const auto say_sampling = [&](ordered_json& side, const SyscallSample* sample) {
    if (!sampling_ || !side["available"].get<bool>()) return;
    if (!sample)
      side["sampling"] = {{"mode", "exact"},
                          {"reason", !sampling_refused_.empty()
                                         ? sampling_refused_
                                         : "the server's system calls are not counted in bench's eBPF program: "
                                           "counted over the whole window instead"}};
    else if (!sampling_incomplete_.empty())
      side["sampling"]["incomplete"] = sampling_incomplete_;
  };
  ordered_json server;
  if (!enabled_)
    server = uncounted_side(kCountersTurnedOff, server_ ? server_->kernel_attribution() : "");
  else if (server_ == nullptr)
    server = uncounted_side("bench load drives a server it did not start: that process is not counted", "");
  else if (!stopped_ || !server0_ || !server1_)
    server = uncounted_side("the server did not answer at both edges of the measured window (it ended or hung)",
                            server_->kernel_attribution());
  else {
    KernelSnapshot server1 = *server1_;
    // A server's eBPF counter is bench's, handed down: bench knows where its program runs.
    if (server1.syscalls_counted_by == "ebpf" && server1.syscall_counting_method.empty()) {
      server1.syscall_counting_method = loadgen1_.syscall_counting_method;
      server1.fentry_refused = loadgen1_.fentry_refused;
    }
    server = kernel_window_json(*server0_, server1, requests, server_->kernel_attribution(), server_sample);
    say_sampling(server, server_sample);
    // The server reads its counters when its control thread gets the CPU: normally within a
    // millisecond; a server starved by its own threads answers late and counts a shifted window.
    const double window_ms = static_cast<double>(stop_ns_ - start_ns_) / 1e6;
    const double late_ms = static_cast<double>(std::max(server_delay0_ns_, server_delay1_ns_)) / 1e6;
    server["edge_delay_ms"] = {static_cast<double>(server_delay0_ns_) / 1e6, static_cast<double>(server_delay1_ns_) / 1e6};
    if (late_ms > 0.01 * window_ms) {
      const std::string skew = fmt::format("the server read its counters up to {:.0f} ms after bench's window edges "
                                           "({:.1f}% of the window): its per-request figures cover a shifted window",
                                           late_ms, 100 * late_ms / window_ms);
      server["coverage"] = server["coverage"].is_string() ? server["coverage"].get<std::string>() + "; " + skew : skew;
    }
  }
  ordered_json loadgen = stopped_ ? kernel_window_json(loadgen0_, loadgen1_, requests, kLoadgenAttribution, loadgen_sample)
                                  : uncounted_side("the measured window never closed", kLoadgenAttribution);
  if (stopped_) say_sampling(loadgen, loadgen_sample);
  return {{"server", server}, {"loadgen", loadgen}};
}

}  // namespace mux
