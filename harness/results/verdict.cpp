#include "harness/results/verdict.hpp"

#include <algorithm>

namespace mux {

std::optional<bool> saturated(const SideCpu& side, double window_s) {
  if (!side.total_us || !side.threads || window_s <= 0) return std::nullopt;
  const ThreadCpuUse& t = *side.threads;
  const double window_us = window_s * 1e6;
  // The busiest thread had work (ran, or waited ready while other processes held its core)
  // nearly all the window: it is what limits the throughput, however little CPU it was given.
  const auto busiest = t.busiest_demand_ns ? t.busiest_demand_ns : t.busiest_on_cpu_ns;
  if (busiest && static_cast<double>(*busiest) / 1e3 >= kSaturatedFraction * window_us) return true;
  const std::size_t usable = std::max<std::size_t>(1, side.cores == 0 ? t.threads : std::min(side.cores, t.threads));
  return *side.total_us >= kSaturatedFraction * window_us * static_cast<double>(usable);
}

std::string bottleneck_verdict(const SideCpu& server, const SideCpu& loadgen, double window_s) {
  const auto srv = saturated(server, window_s);
  const auto gen = saturated(loadgen, window_s);
  if (!srv || !gen) return "unknown";
  if (*srv && *gen) return "both";
  if (*srv) return "server";
  if (*gen) return "load_generator";
  return "neither";
}

}  // namespace mux
