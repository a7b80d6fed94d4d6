#pragma once
// The median of a few repetitions and a distribution-free confidence interval for it: the
// order-statistic (binomial) method, the same as scripts/muxbench/stats.py median_ci.
//
// Why not a bootstrap: with the 3-5 repetitions a sweep affords, a bootstrap of the median can
// only return observed values; at n=3 its "95%" interval is the min-max range, which covers the
// true median with probability 75%. Here the interval is [x_(k), x_(n-k+1)] of the sorted
// values, whose coverage 1 - 2 P(Binomial(n, 1/2) <= k-1) is exact for any continuous
// distribution, and that coverage is reported with the interval.
#include <cstddef>
#include <vector>

namespace mux {

// The coverage intervals aim for; below 6 repetitions none reaches it (see coverage).
inline constexpr double kMedianIntervalConfidence = 0.95;
inline constexpr const char* kMedianIntervalMethod = "order statistic";

struct MedianInterval {
  double median;
  double low;       // x_(k), k counted from 1
  double high;      // x_(n-k+1)
  double coverage;  // probability that [low, high] contains the true median
  std::size_t n;
};

// The narrowest order-statistic interval whose coverage reaches `confidence`; when n is too
// small for any to reach it, the full range with the coverage it really has (n=3: 0.75).
// Throws std::invalid_argument on no values.
MedianInterval median_interval(std::vector<double> values, double confidence = kMedianIntervalConfidence);

// Probability that [x_(k), x_(n-k+1)] of n samples of a continuous law contains its median.
double order_statistic_coverage(std::size_t n, std::size_t k);

}  // namespace mux
