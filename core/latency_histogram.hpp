#pragma once
// Log-linear latency histogram in the manner of HdrHistogram: values in nanoseconds, each
// power-of-two range split into linear sub-buckets (512 by default, so any recorded value is
// known to within 1/512 = 0.2% of itself; the per-second timeline uses 32, 3%). Recording is an index computation and one increment: no
// allocation, no branches on data size. Histograms of the same shape merge by adding counts,
// so every load-generator thread keeps its own and they are combined at the end.
#include <cstdint>
#include <utility>
#include <vector>

namespace mux {

class LatencyHistogram {
 public:
  // Tracks 1 ns .. 2^42 ns (about 73 minutes); larger values are clamped and counted.
  // Relative error: 2^-(sub_bucket_bits - 1).
  explicit LatencyHistogram(int sub_bucket_bits = kDefaultSubBucketBits);

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
  std::uint64_t sum() const { return sum_; }  // of the recorded values, ns
  int sub_bucket_bits() const { return bits_; }
  // Rebuilds a histogram sent between processes from what counters(), sum(), min(), max() and
  // clamped() exported: `counts` are (counter index, count) pairs. Throws on an index out of range.
  static LatencyHistogram restore(int sub_bucket_bits, const std::vector<std::pair<std::size_t, std::uint64_t>>& counts,
                                  std::uint64_t sum, std::uint64_t min, std::uint64_t max, std::uint64_t clamped);
  std::size_t counters() const { return counts_.size(); }

  // The smallest recorded value v such that at least `percentile`% of samples are <= v, i.e.
  // the sample of rank ceil(percentile/100 * count()) (at least 1; exact when that product is an
  // integer, so p99.9 of 1000 samples is the 999th, not the maximum), reported as the highest
  // value equivalent to v's bucket (as HdrHistogram does), capped at max(). NaN throws.
  std::uint64_t value_at_percentile(double percentile) const;

  static constexpr int kDefaultSubBucketBits = 10;
  static constexpr std::uint64_t kHighestTrackable = std::uint64_t{1} << 42;
  // Upper bound of the relative error of value_at_percentile against the exact sample.
  double max_relative_error() const { return 1.0 / static_cast<double>(std::uint64_t{1} << (bits_ - 1)); }
  static constexpr double kMaxRelativeError = 1.0 / 512.0;  // of the default precision

  // HdrHistogram's terms: power-of-two buckets, each split into sub_buckets() linear steps.
  std::size_t buckets() const { return counts_.size() >> (bits_ - 1); }
  std::size_t sub_buckets() const { return std::size_t{1} << bits_; }
  // For exporting the distribution: counter i holds values in [lowest_of(i), highest_of(i)].
  std::uint64_t count_at(std::size_t i) const { return counts_[i]; }
  std::uint64_t lowest_of(std::size_t index) const;
  std::uint64_t highest_of(std::size_t index) const;

  // HdrHistogram's percentile iteration (ticks_per_half_distance steps between 0% and 50%,
  // as many again between 50% and 75%, and so on): the rows of an .hgrm file.
  struct SpectrumPoint {
    std::uint64_t value;  // highest value equivalent to the step's bucket, ns
    double percentile;    // 0..100
    std::uint64_t total_count;
  };
  std::vector<SpectrumPoint> percentile_spectrum(int ticks_per_half_distance = 5) const;
  double stddev() const;

 private:
  std::size_t index_of(std::uint64_t v) const {
    const int pow2ceiling = 64 - __builtin_clzll(v | mask_);
    const int bucket = pow2ceiling - bits_;
    const std::uint64_t sub = v >> bucket;
    return static_cast<std::size_t>((static_cast<std::uint64_t>(bucket) << (bits_ - 1)) + sub);
  }

  int bits_;             // sub-buckets per bucket: 2^bits_ in bucket 0, half that in the others
  std::uint64_t mask_;   // 2^bits_ - 1
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t clamped_ = 0;
};

}  // namespace mux
