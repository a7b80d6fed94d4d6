#include "core/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mux {
namespace {

// The exact percentile of sorted samples, by the same rank rule the histogram uses.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::max<std::size_t>(rank, 1);
  return sorted[rank - 1];
}

void expect_within_bound(const LatencyHistogram& h, std::vector<std::uint64_t> samples) {
  std::sort(samples.begin(), samples.end());
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0}) {
    const auto exact = static_cast<double>(exact_percentile(samples, p));
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
  for (double p : {50.0, 99.0, 99.9}) {
    const auto exact = static_cast<double>(exact_percentile(samples, p));
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
    // Each row's value is the percentile's value within the error bound.
    if (points[i].percentile < 100) {
      EXPECT_LE(static_cast<double>(h.value_at_percentile(points[i].percentile)),
                static_cast<double>(points[i].value) * (1 + LatencyHistogram::kMaxRelativeError) + 1);
    }
  }
}

}  // namespace
}  // namespace mux
