// Kernel counters of processes counted where they run and added up elsewhere: an MPI load
// rank counts its own process over its window and sends the counts to rank 0, which adds the
// ranks' windows and reports the load side per request of them all.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "harness/kernel/kernel_counters.hpp"

namespace mux {

KernelSnapshot sum_windows(const std::vector<KernelSnapshot>& windows, const std::vector<std::string>& labels) {
  KernelSnapshot sum;
  if (windows.empty()) return sum;
  sum = windows.front();
  sum.counts.clear();
  sum.unavailable.clear();
  // Every counter any window has or lacks: summed where all have it, else unavailable.
  std::map<std::string, bool> counters;
  for (const KernelSnapshot& w : windows) {
    for (const auto& [counter, count] : w.counts) counters[counter] = true;
    for (const auto& [counter, why] : w.unavailable) counters[counter] = true;
  }
  for (const auto& [counter, unused] : counters) {
    std::uint64_t total = 0;
    std::string missing;
    for (std::size_t i = 0; i < windows.size() && missing.empty(); ++i) {
      if (const auto c = windows[i].counts.find(counter); c != windows[i].counts.end()) {
        total += c->second;
        continue;
      }
      const auto why = windows[i].unavailable.find(counter);
      missing = fmt::format("{}: {}", i < labels.size() ? labels[i] : fmt::format("process {}", i),
                            why != windows[i].unavailable.end() ? why->second : "not counted");
    }
    if (missing.empty())
      sum.counts[counter] = total;
    else
      sum.unavailable[counter] = missing;
  }
  // A method or a caveat any one of them had holds for the sum.
  for (const KernelSnapshot& w : windows) {
    for (const std::string& scaled : w.scaled)
      if (std::find(sum.scaled.begin(), sum.scaled.end(), scaled) == sum.scaled.end()) sum.scaled.push_back(scaled);
    if (!w.coverage.empty() && sum.coverage.find(w.coverage) == std::string::npos)
      sum.coverage += (sum.coverage.empty() ? "" : "; ") + w.coverage;
    if (w.syscalls_counted_by != sum.syscalls_counted_by && !w.syscalls_counted_by.empty())
      sum.syscalls_counted_by = "mixed";
  }
  return sum;
}

nlohmann::ordered_json window_json(const KernelSnapshot& window, std::uint64_t requests, const std::string& attribution) {
  KernelSnapshot zero = window;
  for (auto& [counter, count] : zero.counts) count = 0;
  return kernel_window_json(zero, window, requests, attribution);
}

}  // namespace mux
