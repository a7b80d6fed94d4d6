#include "core/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace mux {

// Index layout: bucket 0 covers [0, 1024) in steps of 1; bucket b >= 1 covers
// [512 << b, 1024 << b) in steps of 1 << b, at indices (b << 9) + 512 .. (b << 9) + 1023.
LatencyHistogram::LatencyHistogram() : counts_(index_of(kHighestTrackable) + 1, 0) {}

std::uint64_t LatencyHistogram::lowest_of(std::size_t index) {
  const std::uint64_t i = index;
  if (i < kSubBucketCount) return i;
  const std::uint64_t bucket = (i >> (kSubBucketBits - 1)) - 1;
  const std::uint64_t sub = (i & (kSubBucketHalf - 1)) + kSubBucketHalf;
  return sub << bucket;
}

std::uint64_t LatencyHistogram::highest_of(std::size_t index) {
  const std::uint64_t i = index;
  if (i < kSubBucketCount) return i;
  const std::uint64_t bucket = (i >> (kSubBucketBits - 1)) - 1;
  return lowest_of(index) + (std::uint64_t{1} << bucket) - 1;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() { *this = LatencyHistogram(); }

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (total_ == 0) return 0;
  const double p = std::clamp(percentile, 0.0, 100.0);
  // Rank of the sample we want (1-based), as HdrHistogram computes it.
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_of(i), max_);
  }
  return max_;
}

}  // namespace mux
