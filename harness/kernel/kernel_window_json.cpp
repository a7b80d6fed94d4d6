// One side's kernel counters over a window, per request, as results.kernel_counters shows them.
#include <algorithm>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/kernel/counter_table.hpp"
#include "harness/kernel/kernel_counters.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

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
  for (const KernelCounterRow& row : kernel_counter_table()) {
    const std::string counter = row.name, field = row.per_request;
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

}  // namespace mux
