// The SLO parser and verdict (harness/slo) and the capacity search (harness/capacity_search),
// driven by an oracle whose true capacity the test knows.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "core/usage_error.hpp"
#include "harness/sweep/capacity_search.hpp"
#include "harness/spec/slo.hpp"

namespace mux {
namespace {

TEST(Slo, ParsesPercentilesAndUnits) {
  const auto one = parse_slo("p99<=1ms");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_DOUBLE_EQ(one[0].percentile, 99);
  EXPECT_EQ(one[0].limit_ns, 1'000'000u);
  const auto two = parse_slo("p99.9<=500us,p50<=200ns");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_DOUBLE_EQ(two[0].percentile, 99.9);
  EXPECT_EQ(two[0].limit_ns, 500'000u);
  EXPECT_EQ(two[1].limit_ns, 200u);
  EXPECT_EQ(parse_slo("p100<=1.5s")[0].limit_ns, 1'500'000'000u);
  EXPECT_EQ(slo_text(two), "p99.9<=500us,p50<=200ns");
}

TEST(Slo, RejectsMalformedTermsWithTheExpectedForm) {
  for (const char* bad : {"", "p99<1ms", "99<=1ms", "p0<=1ms", "p101<=1ms", "p99<=1", "p99<=xms", "p99<=1ms,",
                          "p99<=0ns", "p<=1ms", "p99<=1ms,,p50<=1ms", "p99<=-1ms"}) {
    try {
      parse_slo(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("p99<=1ms"), std::string::npos) << e.what();  // names the form
    }
  }
}

TEST(Slo, AProbePassesOnlyWithEveryTermTheRateAndNoErrors) {
  LatencyHistogram h;
  for (std::uint64_t us = 1; us <= 1000; ++us) h.record(us * 1000);  // p99 is the 990th value: 990 µs
  const auto slo = parse_slo("p99<=1ms,p50<=600us");
  EXPECT_EQ(slo_failures(slo, h, {1000, 1000, 0, true}), "");
  EXPECT_EQ(slo_failures(slo, h, {1000, 960, 0, true}), "");  // within 5%
  EXPECT_NE(slo_failures(slo, h, {1000, 940, 0, true}).find("94.0% of the target"), std::string::npos);
  EXPECT_NE(slo_failures(slo, h, {1000, 1000, 3, true}).find("3 errors"), std::string::npos);
  EXPECT_NE(slo_failures(slo, h, {1000, 1000, 0, false}).find("did not complete"), std::string::npos);
  const std::string tight = slo_failures(parse_slo("p99<=900us"), h, {1000, 1000, 0, true});
  EXPECT_NE(tight.find("p99 "), std::string::npos) << tight;
  EXPECT_NE(slo_failures(slo, LatencyHistogram{}, {1000, 0, 0, true}).find("no request"), std::string::npos);
}

// Runs the search against `passes`; returns it when over.
CapacitySearch search_with(double closed_loop, std::size_t budget, const std::function<bool(double)>& passes) {
  CapacitySearch s(closed_loop, budget);
  for (std::optional<double> r; (r = s.next());) s.record(*r, passes(*r));
  return s;
}

TEST(CapacitySearch, BracketsAThresholdBelowTheClosedLoopCapacityWithinItsPrecision) {
  for (const double truth : {70'000.0, 99'000.0, 30'000.0, 5'000.0}) {
    const CapacitySearch s = search_with(100'000, 11, [truth](double r) { return r <= truth; });
    ASSERT_TRUE(s.upper_bound()) << truth;
    EXPECT_LE(s.capacity(), truth);
    EXPECT_GT(*s.upper_bound(), truth);
    EXPECT_LE(*s.upper_bound() - s.capacity(), kCapacityPrecision * *s.upper_bound()) << truth;
    EXPECT_LE(s.probes(), 11u);
  }
}

TEST(CapacitySearch, ClimbsAboveTheClosedLoopCapacityWhenItPasses) {
  const CapacitySearch s = search_with(100'000, 11, [](double r) { return r <= 140'000; });
  EXPECT_GE(s.capacity(), 100'000);
  EXPECT_LE(s.capacity(), 140'000);
  ASSERT_TRUE(s.upper_bound());
  EXPECT_GT(*s.upper_bound(), 140'000);
}

TEST(CapacitySearch, SaysNothingPassesWhenTheSloIsOutOfReach) {
  const CapacitySearch s = search_with(100'000, 50, [](double) { return false; });
  EXPECT_EQ(s.capacity(), 0);
  EXPECT_LT(s.probes(), 50u);  // stops at 1/1024 of the closed-loop capacity, not at the budget
}

TEST(CapacitySearch, ABoundaryPassIsRepeatedAndAFailedRepeatLowersTheCapacity) {
  std::vector<double> probed;
  int passes_at_boundary = 0;
  // Passes up to 80k, except that every rate above 75k passes only the first time it is run.
  CapacitySearch s(100'000, 11);
  for (std::optional<double> r; (r = s.next());) {
    probed.push_back(*r);
    bool pass = *r <= 80'000;
    if (pass && *r > 75'000) pass = std::count(probed.begin(), probed.end(), *r) == 1 && ++passes_at_boundary;
    s.record(*r, pass);
  }
  EXPECT_GE(passes_at_boundary, 1);
  // Some rate was run twice: the repeat next to the boundary.
  std::vector<double> sorted = probed;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_LE(s.capacity(), 75'000);  // no rate above 75k is sustained
  EXPECT_LE(s.probes(), 11u);
}

TEST(CapacitySearch, KeepsToItsBudget) {
  const CapacitySearch s = search_with(100'000, 3, [](double r) { return r <= 12'345; });
  EXPECT_EQ(s.probes(), 3u);
  EXPECT_TRUE(s.budget_spent());
}

}  // namespace
}  // namespace mux
