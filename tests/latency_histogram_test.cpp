#include "core/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mux {
namespace {

// Percentiles in thousandths of a percent (99.9% is 99'900), so the expected rank is integer
// arithmetic: no floating point shared with the code under test.
constexpr std::uint64_t kPercentilesMilli[] = {0,      1,      10,     100,    1'000,  5'000,  10'000, 12'500,
                                               20'000, 25'000, 33'000, 50'000, 62'500, 75'000, 80'000, 90'000,
                                               95'000, 99'000, 99'500, 99'900, 99'950, 99'990, 99'999, 100'000};

double percent(std::uint64_t milli) { return static_cast<double>(milli) / 1000.0; }

// The 1-based rank of the percentile of n samples: the smallest k with k/n >= p/100, at least 1.
std::size_t exact_rank(std::uint64_t milli, std::size_t n) {
  const std::uint64_t scaled = milli * n;  // p/100 * n = scaled / 100'000
  return std::max<std::size_t>((scaled + 99'999) / 100'000, 1);
}

// The exact percentile of sorted samples.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, std::uint64_t milli) {
  return sorted[exact_rank(milli, sorted.size()) - 1];
}

void expect_within_bound(const LatencyHistogram& h, std::vector<std::uint64_t> samples) {
  std::sort(samples.begin(), samples.end());
  for (std::uint64_t milli : kPercentilesMilli) {
    const double p = percent(milli);
    const auto exact = static_cast<double>(exact_percentile(samples, milli));
    const auto got = static_cast<double>(h.value_at_percentile(p));
    EXPECT_GE(got, exact) << "p" << p;  // reported as the bucket's highest equivalent value
    EXPECT_LE(got, exact * (1 + LatencyHistogram::kMaxRelativeError) + 1) << "p" << p;
  }
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.count(), samples.size());
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 0; v < 1024; ++v) h.record(v);
  EXPECT_EQ(h.value_at_percentile(50), 511u);
  EXPECT_EQ(h.value_at_percentile(100), 1023u);
}

TEST(LatencyHistogram, PercentilesWithinErrorBoundOfSortedSamples) {
  std::mt19937_64 rng(42);
  // Log-normal latencies from ~1 µs to ~1 s, plus a few huge outliers: the shape of a real run.
  std::lognormal_distribution<double> dist(std::log(50'000.0), 1.5);
  std::vector<std::uint64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 200'000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng)) + 1000;
    if (i % 50'000 == 0) v = 61'000'000'000ULL;  // 61 s: the range must reach at least 60 s
    samples.push_back(v);
    h.record(v);
  }
  expect_within_bound(h, samples);
}

// Distinct values below 2^bits sit in unit-wide buckets, so the histogram reports them exactly
// and any error in the rank shows as a wrong value, not as bucket rounding.
std::vector<std::uint64_t> distinct_exact_values(std::size_t n, int bits, std::uint64_t seed) {
  std::vector<std::uint64_t> all(std::size_t{1} << bits);
  for (std::size_t v = 0; v < all.size(); ++v) all[v] = v;
  std::mt19937_64 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(n);
  return all;  // in random order
}

TEST(LatencyHistogram, PercentileIsTheSampleOfExactRank) {
  struct Case {
    std::size_t n;
    int bits;
  };
  int integer_ranks = 0;
  for (const Case c : {Case{1, 10}, Case{2, 10}, Case{3, 10}, Case{4, 10}, Case{5, 10}, Case{7, 10}, Case{8, 10},
                       Case{10, 10}, Case{20, 10}, Case{40, 10}, Case{100, 10}, Case{200, 10}, Case{300, 10},
                       Case{400, 10}, Case{1000, 10}, Case{1024, 10}, Case{2000, 12}, Case{3000, 12},
                       Case{10'000, 14}, Case{20'000, 15}, Case{100'000, 17}}) {
    auto samples = distinct_exact_values(c.n, c.bits, c.n);
    LatencyHistogram h(c.bits);
    for (auto v : samples) h.record(v);
    std::sort(samples.begin(), samples.end());
    for (std::uint64_t milli : kPercentilesMilli) {
      if (milli * c.n % 100'000 == 0) ++integer_ranks;  // p*N/100 is an integer k: the k-th smallest
      EXPECT_EQ(h.value_at_percentile(percent(milli)), samples[exact_rank(milli, c.n) - 1])
          << "n=" << c.n << " p=" << percent(milli) << " rank " << exact_rank(milli, c.n);
    }
  }
  EXPECT_GT(integer_ranks, 200);  // the cases where rounding up by mistake would show
}

TEST(LatencyHistogram, P999Of1000SamplesIsNotTheMaximum) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.value_at_percentile(99.9), 999u);
  EXPECT_NE(h.value_at_percentile(99.9), h.max());
  EXPECT_EQ(h.value_at_percentile(100), 1000u);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  LatencyHistogram hundred, three;
  for (std::uint64_t v = 1; v <= 100; ++v) hundred.record(v);
  for (std::uint64_t v = 1; v <= 3; ++v) three.record(v);
  EXPECT_EQ(hundred.value_at_percentile(99), 99u);
  EXPECT_EQ(three.value_at_percentile(50), 2u);
  EXPECT_THROW((void)h.value_at_percentile(std::nan("")), std::invalid_argument);
}

TEST(LatencyHistogram, BucketBoundariesRoundTrip) {
  const LatencyHistogram h0;
  for (std::size_t i = 0; i < 20'000 && h0.lowest_of(i) <= LatencyHistogram::kHighestTrackable; ++i) {
    const auto lo = h0.lowest_of(i), hi = h0.highest_of(i);
    ASSERT_LE(lo, hi);
    ASSERT_LE(static_cast<double>(hi - lo), static_cast<double>(lo) * LatencyHistogram::kMaxRelativeError + 1);
    if (i > 0) {
      ASSERT_EQ(h0.highest_of(i - 1) + 1, lo) << "gap or overlap at index " << i;
    }
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> dist(1, 10'000'000);
  LatencyHistogram a, b, all;
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = dist(rng);
    (i % 3 ? a : b).record(v);
    all.record(v);
    samples.push_back(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 99.0, 99.99}) EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
  expect_within_bound(a, samples);
}

TEST(LatencyHistogram, ClampsValuesBeyondRangeAndCountsThem) {
  LatencyHistogram h;
  h.record(LatencyHistogram::kHighestTrackable * 4);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.max(), LatencyHistogram::kHighestTrackable);
}

TEST(LatencyHistogram, CoarsePrecisionStaysWithinItsOwnBound) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(std::log(200'000.0), 1.0);
  LatencyHistogram h(6);  // the timeline's precision: 1/32
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 20'000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (std::uint64_t milli : {50'000, 99'000, 99'900}) {
    const double p = percent(milli);
    const auto exact = static_cast<double>(exact_percentile(samples, milli));
    EXPECT_GE(static_cast<double>(h.value_at_percentile(p)), exact);
    EXPECT_LE(static_cast<double>(h.value_at_percentile(p)), exact * (1 + h.max_relative_error()) + 1);
  }
  LatencyHistogram fine;
  EXPECT_THROW(fine.merge(h), std::invalid_argument);
}

TEST(LatencyHistogram, SpectrumFollowsHdrHistogramSteps) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v * 1000);
  const auto points = h.percentile_spectrum(5);
  ASSERT_GT(points.size(), 20u);
  EXPECT_DOUBLE_EQ(points.front().percentile, 0.0);
  EXPECT_DOUBLE_EQ(points.back().percentile, 100.0);
  EXPECT_EQ(points.back().total_count, 100'000u);
  EXPECT_EQ(points.back().value, h.max());
  // HdrHistogram's first steps: 0, 10, 20, 30, 40, 50, then 55, 60, 65, 70, 75, then 77.5 ...
  const double expected[] = {0, 10, 20, 30, 40, 50, 55, 60, 65, 70, 75, 77.5};
  for (std::size_t i = 0; i < std::size(expected); ++i) EXPECT_NEAR(points[i].percentile, expected[i], 1e-9) << i;
  for (std::size_t i = 1; i < points.size(); ++i) {
    EXPECT_GE(points[i].value, points[i - 1].value);
    EXPECT_GT(points[i].percentile, points[i - 1].percentile);
  }
  // Each row (the .hgrm file's) is exactly what value_at_percentile says for its percentile.
  for (const auto& point : points) EXPECT_EQ(h.value_at_percentile(point.percentile), point.value) << point.percentile;
}

TEST(LatencyHistogram, SpectrumRowsAgreeWithPercentilesOfSmallSamples) {
  for (std::uint64_t n : {1u, 3u, 10u, 1000u}) {
    LatencyHistogram h;
    for (std::uint64_t v = 1; v <= n; ++v) h.record(v);
    for (const auto& point : h.percentile_spectrum(5)) {
      EXPECT_EQ(h.value_at_percentile(point.percentile), point.value) << "n=" << n << " p=" << point.percentile;
      // total_count is how many samples are <= value: value is the sample of that rank.
      EXPECT_EQ(point.total_count, point.value) << "n=" << n << " p=" << point.percentile;
    }
  }
}

}  // namespace
}  // namespace mux
