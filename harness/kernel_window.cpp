// The kernel counters over the measured window, per request, and how they are shown.
#include <algorithm>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/kernel_counters.hpp"
#include "core/clock.hpp"
#include "harness/server_process.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

// What each side's numbers include (results.kernel_counters.*.attribution).
constexpr const char* kServerAttribution =
    "the server process (bench serve) with all its threads, threads that exit during the window included: its "
    "system calls are counted by process id (syscalls_counted_by \"ebpf\": bench's eBPF program on the raw "
    "tracepoint sys_enter, in the server's own slot; worker processes it forks are added by their ids) or, where "
    "bpf(2) is refused, by perf tracepoint events opened on its one thread before it starts any other and "
    "inherited by every thread and process it creates (\"perf_event\"). Either way per-connection threads and "
    "io_uring's io-wq workers and SQPOLL thread (threads of the ring owner) count; those io_uring threads make no "
    "system calls of their own: the operations they run are not system calls, the io_uring_enter that submitted "
    "them is. Context switches and page faults come from getrusage(RUSAGE_SELF), which covers every thread too. "
    "Included: its control thread's few syscalls when bench asks for the counters at the window's edges. Kernel "
    "work done outside the process (softirq, the loopback's other side) is not attributed to it";
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
ordered_json uncounted_side(const std::string& reason, const std::string& attribution) {
  const KernelSnapshot nothing = KernelCounters(reason).snapshot();
  return kernel_window_json(nothing, nothing, 0, attribution);
}

std::string short_name(const std::string& field) {
  std::string name = field;
  if (const auto at = name.find("_per_request"); at != std::string::npos) name.erase(at);
  return name;
}

}  // namespace

ordered_json kernel_window_json(const KernelSnapshot& before, const KernelSnapshot& after, std::uint64_t requests,
                                const std::string& attribution) {
  ordered_json per_request, totals, unavailable = ordered_json::object();
  const auto n = static_cast<double>(requests);
  const std::string no_requests = "no request completed in the measured window";
  std::map<std::string, std::optional<std::uint64_t>> counted;
  for (const auto& [counter, field] : kFields) {
    const auto d = counted[counter] = delta(before, after, counter);
    totals[counter] = d ? ordered_json(*d) : ordered_json();
    per_request[field] = d && requests > 0 ? ordered_json(static_cast<double>(*d) / n) : ordered_json();
    if (!d) unavailable[field] = reason_for(before, after, counter);
    else if (requests == 0) unavailable[field] = no_requests;
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
    per_syscall[name] = {{"count", *d}, {"per_request", requests > 0 ? ordered_json(static_cast<double>(*d) / n) : ordered_json()}};
  }
  const auto& syscalls = counted["syscalls"];
  if (per_syscall.empty())
    unavailable["per_syscall"] = syscalls ? "this kernel has no syscalls:sys_enter_* tracepoints"
                                          : reason_for(before, after, "syscalls");
  else if (syscalls)  // the rest: every system call not listed one by one
    per_syscall["other"] = {{"count", *syscalls - std::min(listed, *syscalls)},
                            {"per_request", requests > 0 ? ordered_json(static_cast<double>(*syscalls - std::min(listed, *syscalls)) / n)
                                                         : ordered_json()}};

  std::vector<std::string> scaled = after.scaled;
  std::string coverage = after.coverage.empty() ? before.coverage : after.coverage;
  const auto text_or_null = [](const std::string& s) { return s.empty() ? ordered_json() : ordered_json(s); };
  ordered_json side{{"available", syscalls.has_value()},
                    {"unavailable_reason", syscalls ? ordered_json() : ordered_json(reason_for(before, after, "syscalls"))},
                    {"syscalls_counted_by", syscalls ? text_or_null(after.syscalls_counted_by) : ordered_json()},
                    {"ebpf_refused", text_or_null(after.ebpf_refused)},
                    {"attribution", attribution},
                    {"requests", requests}};
  side.update(per_request);
  side["totals"] = totals;
  side["per_syscall"] = per_syscall;
  side["unavailable"] = unavailable;
  side["multiplexed"] = scaled;  // counters extrapolated from part of the window (none: exact)
  side["coverage"] = coverage.empty() ? ordered_json() : ordered_json(coverage);
  return side;
}

KernelCounterWindow::KernelCounterWindow(bool enabled, ServerProcess* server)
    : enabled_(enabled),
      server_(server),
      loadgen_(enabled ? KernelCounters::open_for_this_process() : KernelCounters(kCountersTurnedOff)) {}

std::optional<KernelSnapshot> KernelCounterWindow::server_snapshot() {
  if (!enabled_ || server_ == nullptr) return std::nullopt;
  return server_->kernel_snapshot();
}

void KernelCounterWindow::start() {
  start_ns_ = now_ns();
  loadgen0_ = loadgen_.snapshot();
  server0_ = server_snapshot();
  server_delay0_ns_ = now_ns() - start_ns_;
}

void KernelCounterWindow::stop() {
  stop_ns_ = now_ns();
  loadgen1_ = loadgen_.snapshot();
  server1_ = server_snapshot();
  server_delay1_ns_ = now_ns() - stop_ns_;
  stopped_ = true;
}

ordered_json KernelCounterWindow::to_json(std::uint64_t requests) const {
  ordered_json server;
  if (!enabled_)
    server = uncounted_side(kCountersTurnedOff, kServerAttribution);
  else if (server_ == nullptr)
    server = uncounted_side("bench load drives a server it did not start: that process is not counted", "");
  else if (!stopped_ || !server0_ || !server1_)
    server = uncounted_side("the server did not answer at both edges of the measured window (it ended or hung)",
                            kServerAttribution);
  else {
    server = kernel_window_json(*server0_, *server1_, requests, kServerAttribution);
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
  ordered_json loadgen = stopped_ ? kernel_window_json(loadgen0_, loadgen1_, requests, kLoadgenAttribution)
                                  : uncounted_side("the measured window never closed", kLoadgenAttribution);
  return {{"server", server}, {"loadgen", loadgen}};
}

std::string kernel_counter_notes(const std::string& label, const ordered_json& kc, bool breakdown) {
  if (!kc.is_object()) return "";
  // Fields not counted, grouped by reason, one line each; said once when both sides agree.
  std::map<std::pair<std::string, std::vector<std::string>>, std::vector<std::string>> missing;
  std::string notes;
  for (const auto& [side, name] : {std::pair{"server", "server"}, std::pair{"loadgen", "load generator"}}) {
    const auto& s = kc[side];
    if (!s.is_object()) continue;
    std::map<std::string, std::vector<std::string>> by_reason;
    for (const auto& [field, reason] : s["unavailable"].items()) by_reason[reason.get<std::string>()].push_back(short_name(field));
    for (auto& [reason, fields] : by_reason) missing[{reason, fields}].push_back(name);
    if (s["multiplexed"].is_array() && !s["multiplexed"].empty())
      notes += fmt::format("  {}: {} counters multiplexed by the kernel, extrapolated: {}\n", label, name,
                           fmt::join(s["multiplexed"].get<std::vector<std::string>>(), ", "));
    if (s["coverage"].is_string()) notes += fmt::format("  {}: {} counters: {}\n", label, name, s["coverage"].get<std::string>());
    if (s["ebpf_refused"].is_string())
      notes += fmt::format("  {}: {} system calls counted by perf_event tracepoints, which cost more per call, "
                           "because eBPF was refused: {}\n",
                           label, name, s["ebpf_refused"].get<std::string>());
  }
  std::string unavailable;
  for (const auto& [what, sides] : missing)
    unavailable += fmt::format("  {}: {} counters not counted ({}): {}\n", label, fmt::join(sides, " and "),
                               fmt::join(what.second, ", "), what.first);
  notes = unavailable + notes;
  if (!breakdown) return notes;
  for (const auto& [side, name] : {std::pair{"server", "server"}, std::pair{"loadgen", "load generator"}}) {
    const auto& s = kc[side];
    if (!s.is_object() || s["per_syscall"].empty()) continue;
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [syscall, v] : s["per_syscall"].items())
      if (v["per_request"].is_number() && v["count"].get<std::uint64_t>() > 0)
        rows.emplace_back(v["per_request"].get<double>(), syscall);
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> parts;
    for (const auto& [per, syscall] : rows) parts.push_back(fmt::format("{} {:.3g}", syscall, per));
    notes += fmt::format("  {}: {} syscalls per request: {} (counted by {})\n", label, name,
                         parts.empty() ? std::string("none") : fmt::format("{}", fmt::join(parts, ", ")),
                         s["syscalls_counted_by"].is_string() ? s["syscalls_counted_by"].get<std::string>() : "?");
  }
  return notes;
}

}  // namespace mux
