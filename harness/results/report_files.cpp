// Where a run's files go, and the .hgrm format (declared in report.hpp).
#include <fmt/format.h>

#include "harness/results/report.hpp"

namespace mux {

std::string path_for(const RunOptions& o, const std::string& path_template, const std::string& backend) {
  if (o.backends().size() == 1) return path_template;
  std::string path = path_template;
  if (const auto at = path.find("{backend}"); at != std::string::npos) return path.replace(at, 9, backend);
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + "." + backend;
  return path.insert(dot, "." + backend);
}

std::string to_hgrm(const LatencyHistogram& h) {
  constexpr double kNsPerMs = 1e6;
  std::string out = fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount",
                                "1/(1-Percentile)");
  for (const auto& p : h.percentile_spectrum()) {
    const double fraction = p.percentile / 100.0;
    if (fraction < 1.0)
      out += fmt::format("{:12.3f} {:2.12f} {:10d} {:14.2f}\n", static_cast<double>(p.value) / kNsPerMs, fraction,
                         p.total_count, 1.0 / (1.0 - fraction));
    else
      out += fmt::format("{:12.3f} {:2.12f} {:10d}\n", static_cast<double>(p.value) / kNsPerMs, fraction, p.total_count);
  }
  out += fmt::format("#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", h.mean() / kNsPerMs, h.stddev() / kNsPerMs);
  out += fmt::format("#[Max     = {:12.3f}, Total count    = {:12d}]\n", static_cast<double>(h.max()) / kNsPerMs,
                     h.count());
  out += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", h.buckets(), h.sub_buckets());
  return out;
}

}  // namespace mux
