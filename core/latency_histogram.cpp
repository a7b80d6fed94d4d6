#include "core/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mux {
namespace {

// The 1-based rank of the sample at `percentile` of `total` samples: ceil(p/100 * total), except
// that a product which is an integer up to floating-point error counts as that integer. Without
// this, 99.9% of 1000 computes as 999.0000000000001 and rounds up to rank 1000, the maximum.
// HdrHistogram nudges p down one ulp for the same reason; a tolerance of a few ulps of the
// product also absorbs the rounding of the multiplication and division themselves.
std::uint64_t rank_at_percentile(double percentile, std::uint64_t total) {
  if (std::isnan(percentile)) throw std::invalid_argument("percentile is NaN");
  const double p = std::clamp(percentile, 0.0, 100.0);
  const double fractional = p * static_cast<double>(total) / 100.0;
  const double nearest = std::round(fractional);
  const double tolerance = 4 * std::numeric_limits<double>::epsilon() * std::max(1.0, fractional);
  const double rank = std::abs(fractional - nearest) <= tolerance ? nearest : std::ceil(fractional);
  return std::clamp<std::uint64_t>(static_cast<std::uint64_t>(rank), 1, total);
}

}  // namespace

// Index layout with S = bits_ (10 by default): bucket 0 covers [0, 2^S) in steps of 1;
// bucket b >= 1 covers [2^(S-1) << b, 2^S << b) in steps of 1 << b, at indices
// (b << (S-1)) + 2^(S-1) .. (b << (S-1)) + 2^S - 1.
LatencyHistogram::LatencyHistogram(int sub_bucket_bits)
    : bits_(sub_bucket_bits), mask_((std::uint64_t{1} << sub_bucket_bits) - 1) {
  counts_.assign(index_of(kHighestTrackable) + 1, 0);
}

std::uint64_t LatencyHistogram::lowest_of(std::size_t index) const {
  const std::uint64_t i = index;
  if (i <= mask_) return i;
  const std::uint64_t half = (mask_ + 1) / 2;
  const std::uint64_t bucket = (i >> (bits_ - 1)) - 1;
  const std::uint64_t sub = (i & (half - 1)) + half;
  return sub << bucket;
}

std::uint64_t LatencyHistogram::highest_of(std::size_t index) const {
  const std::uint64_t i = index;
  if (i <= mask_) return i;
  const std::uint64_t bucket = (i >> (bits_ - 1)) - 1;
  return lowest_of(index) + (std::uint64_t{1} << bucket) - 1;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.bits_ != bits_) throw std::invalid_argument("merging histograms of different precision");
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

LatencyHistogram LatencyHistogram::restore(int sub_bucket_bits,
                                           const std::vector<std::pair<std::size_t, std::uint64_t>>& counts,
                                           std::uint64_t sum, std::uint64_t min, std::uint64_t max,
                                           std::uint64_t clamped) {
  LatencyHistogram h(sub_bucket_bits);
  for (const auto& [index, n] : counts) {
    if (index >= h.counts_.size()) throw std::invalid_argument("histogram counter index out of range");
    h.counts_[index] += n;
    h.total_ += n;
  }
  h.sum_ = sum;
  h.min_ = h.total_ ? min : UINT64_MAX;
  h.max_ = max;
  h.clamped_ = clamped;
  return h;
}

void LatencyHistogram::reset() { *this = LatencyHistogram(bits_); }

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (total_ == 0) return 0;
  const std::uint64_t rank = rank_at_percentile(percentile, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_of(i), max_);
  }
  return max_;
}

double LatencyHistogram::stddev() const {
  if (total_ == 0) return 0;
  const double m = mean();
  double sum_sq = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const double mid = static_cast<double>(lowest_of(i) + highest_of(i)) / 2 - m;
    sum_sq += mid * mid * static_cast<double>(counts_[i]);
  }
  return std::sqrt(sum_sq / static_cast<double>(total_));
}

std::vector<LatencyHistogram::SpectrumPoint> LatencyHistogram::percentile_spectrum(int ticks_per_half_distance) const {
  std::vector<SpectrumPoint> points;
  if (total_ == 0) return points;
  double next = 0;  // the percentile to report next
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    seen += counts_[i];
    const std::uint64_t value = std::min(highest_of(i), max_);
    // The same rank rule as value_at_percentile, so every row agrees with it exactly.
    while (rank_at_percentile(next, total_) <= seen && seen < total_) {
      points.push_back({value, next, seen});
      // Halve the step each time the remaining distance to 100% halves.
      const double halvings = std::floor(std::log2(100.0 / (100.0 - next))) + 1;
      next += 100.0 / (static_cast<double>(ticks_per_half_distance) * std::pow(2.0, halvings));
    }
    if (seen == total_) {
      points.push_back({value, 100.0, seen});
      break;
    }
  }
  return points;
}

}  // namespace mux
