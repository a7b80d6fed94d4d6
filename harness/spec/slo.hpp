#pragma once
// A latency service-level objective, `p99<=1ms` (several joined by `,`, all of which must
// hold), and the verdict on one open-loop run: the rate the capacity search probes passes when
// every term holds on the corrected latencies, the achieved rate is within 5% of the target and
// nothing failed. Pure: parsed and judged without running anything (tests/slo_test.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "core/latency_histogram.hpp"

namespace mux {

struct SloTerm {
  double percentile;       // 0 < p <= 100
  std::uint64_t limit_ns;  // the percentile's value must be at most this
  std::string text;        // as given, e.g. "p99<=1ms"
};

// "p99<=1ms", "p99.9<=500us,p50<=200us"; units ns, us, ms, s. Throws UsageError naming the
// problem and the expected form.
std::vector<SloTerm> parse_slo(const std::string& text);
std::string slo_text(const std::vector<SloTerm>& slo);  // the terms joined by ","

// How close to the target an open-loop run's achieved rate must come to count: a server that
// falls behind its schedule queues requests whose latency the run has not yet seen.
inline constexpr double kAchievedRateTolerance = 0.05;

struct ProbeFigures {
  double target_rps;
  double achieved_rps;
  std::uint64_t errors;
  bool complete;
};

// Empty when the run meets `slo`; otherwise every reason it does not, joined by "; ".
std::string slo_failures(const std::vector<SloTerm>& slo, const LatencyHistogram& corrected, const ProbeFigures& run);

}  // namespace mux
