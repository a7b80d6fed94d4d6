#pragma once
// Log-linear latency histogram in the manner of HdrHistogram: values in nanoseconds, each
// power-of-two range split into 512 linear sub-buckets, so any recorded value is known to
// within 1/512 (0.2%) of itself. Recording is an index computation and one increment: no
// allocation, no branches on data size. Histograms of the same shape merge by adding counts,
// so every load-generator thread keeps its own and they are combined at the end.
#include <cstdint>
#include <vector>

namespace mux {

class LatencyHistogram {
 public:
  // Tracks 1 ns .. 2^42 ns (about 73 minutes); larger values are clamped and counted.
  LatencyHistogram();

  void record(std::uint64_t ns) {
    if (ns > kHighestTrackable) {
      ++clamped_;
      ns = kHighestTrackable;
    }
    ++counts_[index_of(ns)];
    ++total_;
    sum_ += ns;
    if (ns < min_) min_ = ns;
    if (ns > max_) max_ = ns;
  }
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return total_; }
  std::uint64_t min() const { return total_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }  // exact, not bucketed
  double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0; }
  std::uint64_t clamped() const { return clamped_; }

  // The smallest recorded value v such that at least `percentile`% of samples are <= v,
  // reported as the highest value equivalent to v's bucket (as HdrHistogram does), capped at max().
  std::uint64_t value_at_percentile(double percentile) const;

  // Upper bound of the relative error of value_at_percentile against the exact sample.
  static constexpr double kMaxRelativeError = 1.0 / 512.0;
  static constexpr std::uint64_t kHighestTrackable = std::uint64_t{1} << 42;

  // For exporting the distribution: bucket i holds values in [lowest_of(i), highest_of(i)].
  std::size_t bucket_count() const { return counts_.size(); }
  std::uint64_t count_at(std::size_t i) const { return counts_[i]; }
  static std::uint64_t lowest_of(std::size_t index);
  static std::uint64_t highest_of(std::size_t index);

 private:
  static constexpr int kSubBucketBits = 10;  // 1024 sub-buckets in bucket 0, 512 in the others
  static constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;
  static constexpr std::uint64_t kSubBucketHalf = kSubBucketCount / 2;
  static constexpr std::uint64_t kSubBucketMask = kSubBucketCount - 1;

  static std::size_t index_of(std::uint64_t v) {
    const int pow2ceiling = 64 - __builtin_clzll(v | kSubBucketMask);
    const int bucket = pow2ceiling - kSubBucketBits;
    const std::uint64_t sub = v >> bucket;
    return static_cast<std::size_t>((static_cast<std::uint64_t>(bucket) << (kSubBucketBits - 1)) + sub);
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t clamped_ = 0;
};

}  // namespace mux
