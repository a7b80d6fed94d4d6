// The median's order-statistic interval against binomial sums written out by hand: the
// interval [x_(k), x_(n-k+1)] covers the median with probability 1 - 2 * sum_{i<k} C(n,i) / 2^n.
#include "core/median_interval.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <vector>

namespace mux {
namespace {

// 10, 20, ..., 10n in a shuffled order: x_(i) is 10i, so the interval names its ranks.
std::vector<double> shuffled_tens(int n) {
  std::vector<double> v;
  for (int i = 1; i <= n; ++i) v.push_back(10.0 * i);
  std::mt19937 rng(static_cast<unsigned>(n));
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

struct Expected {
  int n;
  int k;            // the interval is [x_(k), x_(n-k+1)]
  double coverage;  // 1 - 2 * sum_{i<k} C(n,i) / 2^n
};

TEST(MedianInterval, OrderStatisticsWithTheirExactCoverage) {
  const Expected cases[] = {
      {1, 1, 0.0},                                         // 1 - 2 * 1/2
      {2, 1, 1 - 2 * 1.0 / 4},                             // 0.5
      {3, 1, 1 - 2 * 1.0 / 8},                             // 0.75: the min-max range, not 95%
      {4, 1, 1 - 2 * 1.0 / 16},                            // 0.875
      {5, 1, 1 - 2 * 1.0 / 32},                            // 0.9375
      {6, 1, 1 - 2 * 1.0 / 64},                            // 0.969; k=2 would be 1 - 2*(1+6)/64 = 0.78
      {9, 2, 1 - 2 * (1.0 + 9) / 512},                     // 0.961; k=3: 1 - 2*(1+9+36)/512 = 0.82
      {10, 2, 1 - 2 * (1.0 + 10) / 1024},                  // 0.979; k=3: 1 - 2*(1+10+45)/1024 = 0.89
      {20, 6, 1 - 2 * (1.0 + 20 + 190 + 1140 + 4845 + 15504) / 1048576},  // 0.959; k=7: 0.885
  };
  for (const auto& c : cases) {
    const MedianInterval ci = median_interval(shuffled_tens(c.n));
    EXPECT_EQ(ci.n, static_cast<std::size_t>(c.n));
    EXPECT_DOUBLE_EQ(ci.median, 10.0 * (c.n + 1) / 2) << "n=" << c.n;
    EXPECT_DOUBLE_EQ(ci.low, 10.0 * c.k) << "n=" << c.n;
    EXPECT_DOUBLE_EQ(ci.high, 10.0 * (c.n - c.k + 1)) << "n=" << c.n;
    EXPECT_NEAR(ci.coverage, c.coverage, 1e-12) << "n=" << c.n;
  }
}

TEST(MedianInterval, ThreeRepetitionsAreTheRangeAtSeventyFivePercent) {
  const MedianInterval ci = median_interval({300.0, 100.0, 200.0});
  EXPECT_EQ(ci.median, 200.0);
  EXPECT_EQ(ci.low, 100.0);
  EXPECT_EQ(ci.high, 300.0);
  EXPECT_NEAR(ci.coverage, 0.75, 1e-12);
  EXPECT_LT(ci.coverage, kMedianIntervalConfidence);
}

TEST(MedianInterval, ManyRepetitionsReachTheConfidenceWithoutOverflow) {
  const MedianInterval ci = median_interval(shuffled_tens(1000));
  EXPECT_GE(ci.coverage, kMedianIntervalConfidence);
  EXPECT_LT(ci.coverage, 0.96);  // the narrowest interval that reaches 95%, not a wider one
  EXPECT_GT(ci.low, 10.0 * 400);
  EXPECT_LT(ci.high, 10.0 * 601);
}

TEST(MedianInterval, NoValuesIsAnError) { EXPECT_THROW(median_interval({}), std::invalid_argument); }

}  // namespace
}  // namespace mux
