// The notes under the table for the kernel counters: what was not counted and why, how the
// system calls were counted, and (--syscalls) each side's calls per request one by one.
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

// How a side's system calls were counted under --counters=sampled (results' "sampling").
std::string sampling_note(const ordered_json& sampling) {
  if (sampling["mode"] == "exact") return "counted over the whole window, not sampled: " + sampling["reason"].get<std::string>();
  std::string note = fmt::format(
      "sampled: counted in {} slices of {:g} ms, {:.1f}% of the window, {} requests; per request = calls in the "
      "slices / requests completed in them; the other counters cover the whole window",
      sampling["slices"].get<std::size_t>(), sampling["slice_ms"].get<double>(),
      100 * sampling["covered_fraction"].get<double>(), sampling["requests_in_slices"].get<std::uint64_t>());
  if (sampling.contains("incomplete")) note += "; " + sampling["incomplete"].get<std::string>();
  return note;
}

// A field of results.kernel_counters.SIDE.unavailable by its counter's name ("page_faults");
// a field no counter has (instructions_per_cycle, per_syscall) as it is.
std::string short_name(const std::string& field) {
  for (const KernelCounterRow& counter : kernel_counter_table())
    if (field == counter.per_request) return counter.name;
  return field;
}

}  // namespace

std::string kernel_counter_notes(const std::string& label, const ordered_json& kc, bool breakdown) {
  if (!kc.is_object()) return "";
  // Fields not counted, grouped by reason, one line each; said once when both sides agree.
  std::map<std::pair<std::string, std::vector<std::string>>, std::vector<std::string>> missing;
  std::map<std::string, std::vector<std::string>> sampling;  // note -> sides
  std::string notes;
  for (const KernelCounterSide& each : kernel_counter_sides()) {
    const char* side = each.key;
    const char* name = each.words;
    const auto& s = kc[side];
    if (!s.is_object()) continue;
    std::map<std::string, std::vector<std::string>> by_reason;
    for (const auto& [field, reason] : s["unavailable"].items()) by_reason[reason.get<std::string>()].push_back(short_name(field));
    for (auto& [reason, fields] : by_reason) missing[{reason, fields}].push_back(name);
    if (s["multiplexed"].is_array() && !s["multiplexed"].empty())
      notes += fmt::format("  {}: {} counters multiplexed by the kernel, extrapolated: {}\n", label, name,
                           fmt::join(s["multiplexed"].get<std::vector<std::string>>(), ", "));
    if (s["sampling"].is_object()) sampling[sampling_note(s["sampling"])].push_back(name);
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
  for (const auto& [note, sides] : sampling)
    unavailable += fmt::format("  {}: {} system calls {}\n", label, fmt::join(sides, " and "), note);
  notes = unavailable + notes;
  if (!breakdown) return notes;
  for (const KernelCounterSide& each : kernel_counter_sides()) {
    const char* side = each.key;
    const char* name = each.words;
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
