#include "harness/sweep/capacity_search.hpp"

#include <algorithm>

namespace mux {

namespace {
constexpr double kClimb = 1.25;            // above a pass at the closed-loop capacity
constexpr double kLowestFraction = 1.0 / 1024;  // below this fraction of it, the SLO is out of reach
}  // namespace

CapacitySearch::CapacitySearch(double closed_loop_rps, std::size_t max_probes, double precision)
    : closed_loop_(closed_loop_rps), max_probes_(max_probes), precision_(precision) {}

std::optional<double> CapacitySearch::next() const {
  if (probes_ >= max_probes_ || closed_loop_ <= 0) return std::nullopt;
  if (!high_) return low_ > 0 ? low_ * kClimb : closed_loop_;
  if (low_ <= 0) {
    const double half = *high_ / 2;
    return half >= closed_loop_ * kLowestFraction ? std::optional<double>(half) : std::nullopt;
  }
  if (*high_ - low_ > precision_ * *high_) return (low_ + *high_) / 2;
  if (!low_confirmed_) return low_;  // the repeat next to the boundary
  return std::nullopt;
}

void CapacitySearch::record(double rate, bool passed) {
  ++probes_;
  if (passed) {
    const bool repeat = rate == low_;
    passed_.push_back(rate);
    if (rate > low_ && (!high_ || rate < *high_)) {
      low_ = rate;
      low_confirmed_ = false;
    } else if (repeat) {
      low_confirmed_ = true;
    }
    return;
  }
  // A failure at or below the current low: that rate is not sustained after all; the
  // capacity falls back to the highest pass below it.
  if (!high_ || rate < *high_) high_ = rate;
  std::erase_if(passed_, [rate](double r) { return r >= rate; });
  if (low_ >= rate) {
    low_ = passed_.empty() ? 0 : *std::max_element(passed_.begin(), passed_.end());
    low_confirmed_ = false;
  }
}

}  // namespace mux
