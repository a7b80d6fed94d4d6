// The kernel counters over the measured window, per request, and how they are shown.
#include <algorithm>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/kernel_counters.hpp"
#include "core/clock.hpp"
#include "harness/measured_server.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

// What each side's numbers include (results.kernel_counters.*.attribution).
constexpr const char* kLoadgenAttribution =
    "the bench process: the load generator's threads and the main thread, which watches the clock (about 50 "
    "sleeps a second) and asks the server for its counters at the window's edges; system calls counted by "
    "process id (eBPF) or by inherited perf tracepoint events (perf_event); context switches and page faults "
    "from getrusage(RUSAGE_SELF)";

// Counter -> field, in the order the JSON lists them.
struct PerRequestField {
  const char* counter;
  const char* field;
};
constexpr PerRequestField kFields[] = {
    {"syscalls", "syscalls_per_request"},
    {"context_switches", "context_switches_per_request"},
    {"voluntary_context_switches", "voluntary_context_switches_per_request"},
    {"involuntary_context_switches", "involuntary_context_switches_per_request"},
    {"page_faults", "page_faults_per_request"},
    {"cpu_migrations", "cpu_migrations_per_request"},
    {"instructions", "instructions_per_request"},
    {"cycles", "cycles_per_request"},
};

std::string reason_for(const KernelSnapshot& before, const KernelSnapshot& after, const std::string& counter) {
  for (const KernelSnapshot* s : {&after, &before})
    if (const auto it = s->unavailable.find(counter); it != s->unavailable.end()) return it->second;
  return "not counted";
}

std::optional<std::uint64_t> delta(const KernelSnapshot& before, const KernelSnapshot& after, const std::string& counter) {
  const auto b = before.counts.find(counter), a = after.counts.find(counter);
  if (b == before.counts.end() || a == after.counts.end()) return std::nullopt;
  return a->second >= b->second ? a->second - b->second : 0;  // scaled values may wobble below
}

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

bool is_syscall_counter(const std::string& counter) { return counter == "syscalls" || counter.starts_with("syscall:"); }

// The snapshots with their system calls replaced by the slices' (before: none, after: the sum).
std::pair<KernelSnapshot, KernelSnapshot> with_sampled_syscalls(const KernelSnapshot& before, const KernelSnapshot& after,
                                                                const SyscallSample& sample) {
  std::pair<KernelSnapshot, KernelSnapshot> both{before, after};
  for (KernelSnapshot* s : {&both.first, &both.second})
    std::erase_if(s->counts, [](const auto& entry) { return is_syscall_counter(entry.first); });
  add_syscall_counts(sample.counts, both.second.counts);
  for (const auto& [counter, count] : both.second.counts)
    if (is_syscall_counter(counter)) both.first.counts[counter] = 0;
  return both;
}

ordered_json sampling_json(const SyscallSample& sample) {
  return {{"mode", "sampled"},
          {"duty", sample.duty},
          {"slice_ms", static_cast<double>(SyscallSampling::kSliceNs) / 1e6},
          {"slices", sample.slices},
          {"covered_fraction", sample.window_ns > 0 ? static_cast<double>(sample.covered_ns) / static_cast<double>(sample.window_ns) : 0.0},
          {"requests_in_slices", sample.requests}};
}

}  // namespace

ordered_json kernel_window_json(const KernelSnapshot& window_before, const KernelSnapshot& window_after,
                                std::uint64_t window_requests, const std::string& attribution,
                                const SyscallSample* sample) {
  const auto sampled = sample ? with_sampled_syscalls(window_before, window_after, *sample)
                              : std::pair<KernelSnapshot, KernelSnapshot>{};
  const KernelSnapshot& before = sample ? sampled.first : window_before;
  const KernelSnapshot& after = sample ? sampled.second : window_after;
  // Sampled, the system calls are per request completed in the slices; the rest per request
  // of the whole window.
  const auto requests_for = [&](const std::string& counter) {
    return sample && is_syscall_counter(counter) ? sample->requests : window_requests;
  };
  const auto per = [&](std::uint64_t count, const std::string& counter) {
    const std::uint64_t requests = requests_for(counter);
    return requests > 0 ? ordered_json(static_cast<double>(count) / static_cast<double>(requests)) : ordered_json();
  };
  ordered_json per_request, totals, unavailable = ordered_json::object();
  std::map<std::string, std::optional<std::uint64_t>> counted;
  for (const auto& [counter, field] : kFields) {
    const auto d = counted[counter] = delta(before, after, counter);
    totals[counter] = d ? ordered_json(*d) : ordered_json();
    per_request[field] = d ? per(*d, counter) : ordered_json();
    if (!d) unavailable[field] = reason_for(before, after, counter);
    else if (requests_for(counter) == 0)
      unavailable[field] = sample && is_syscall_counter(counter) ? "no request completed in the sampled slices"
                                                                 : "no request completed in the measured window";
  }
  const auto& instructions = counted["instructions"];
  const auto& cycles = counted["cycles"];
  per_request["instructions_per_cycle"] =
      instructions && cycles && *cycles > 0 ? ordered_json(static_cast<double>(*instructions) / static_cast<double>(*cycles))
                                            : ordered_json();
  if (!instructions || !cycles || *cycles == 0)
    unavailable["instructions_per_cycle"] = !cycles ? reason_for(before, after, "cycles") : !instructions ? reason_for(before, after, "instructions") : "no cycles counted";

  ordered_json per_syscall = ordered_json::object();
  std::uint64_t listed = 0;
  for (const auto& [name, number] : breakdown_syscalls()) {
    const auto d = delta(before, after, fmt::format("syscall:{}", name));
    if (!d) continue;  // not counted (no tracepoint on this kernel, or refused)
    listed += *d;
    per_syscall[name] = {{"count", *d}, {"per_request", per(*d, "syscalls")}};
  }
  const auto& syscalls = counted["syscalls"];
  if (per_syscall.empty())
    unavailable["per_syscall"] = syscalls ? "this kernel has no syscalls:sys_enter_* tracepoints"
                                          : reason_for(before, after, "syscalls");
  else if (syscalls)  // the rest: every system call not listed one by one
    per_syscall["other"] = {{"count", *syscalls - std::min(listed, *syscalls)},
                            {"per_request", per(*syscalls - std::min(listed, *syscalls), "syscalls")}};

  std::vector<std::string> scaled = after.scaled;
  std::string coverage = after.coverage.empty() ? before.coverage : after.coverage;
  const auto text_or_null = [](const std::string& s) { return s.empty() ? ordered_json() : ordered_json(s); };
  ordered_json side{{"available", syscalls.has_value()},
                    {"unavailable_reason", syscalls ? ordered_json() : ordered_json(reason_for(before, after, "syscalls"))},
                    {"syscalls_counted_by", syscalls ? text_or_null(after.syscalls_counted_by) : ordered_json()},
                    {"ebpf_refused", text_or_null(after.ebpf_refused)},
                    {"syscall_counting_method", syscalls ? text_or_null(after.syscall_counting_method) : ordered_json()},
                    {"fentry_refused", syscalls ? text_or_null(after.fentry_refused) : ordered_json()},
                    {"attribution", attribution},
                    {"requests", window_requests},
                    // null: counted over the whole window (--counters=on)
                    {"sampling", sample ? sampling_json(*sample) : ordered_json()}};
  side.update(per_request);
  side["totals"] = totals;
  side["per_syscall"] = per_syscall;
  side["unavailable"] = unavailable;
  side["multiplexed"] = scaled;  // counters extrapolated from part of the window (none: exact)
  side["coverage"] = coverage.empty() ? ordered_json() : ordered_json(coverage);
  return side;
}

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

KernelSnapshot snapshot_window(const KernelSnapshot& before, const KernelSnapshot& after) {
  KernelSnapshot window = after;
  window.counts.clear();
  for (const auto& [counter, count] : after.counts) {
    if (const auto d = delta(before, after, counter))
      window.counts[counter] = *d;
    else if (!window.unavailable.contains(counter))
      window.unavailable[counter] = "not counted at the window's start";
  }
  for (const auto& [counter, why] : before.unavailable) window.unavailable.emplace(counter, why);
  return window;
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
