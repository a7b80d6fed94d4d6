#pragma once
// Where `bench capacity` probes next: a bracketing search for the highest open-loop rate that
// meets an SLO, started from the closed-loop capacity measured first (the most the server
// carried with a request always outstanding). Pure: the caller runs each probe and reports
// pass or fail (tests/slo_test.cpp drives it with a known threshold).
//
// The search keeps the highest passing rate `low` and the lowest failing rate `high`. Until
// something fails it climbs from the closed-loop capacity by 25%; until something passes it
// halves; then it bisects, until the bracket is within `precision` of `high`. A pass next to
// the boundary can be luck (single runs here vary by ±10%), so the final `low` is run once
// more and must pass again; a failed repeat makes that rate the new `high`.
#include <cstddef>
#include <optional>
#include <vector>

namespace mux {

// The search stops when the bracket [low, high] is this narrow, relative to high.
inline constexpr double kCapacityPrecision = 0.05;

class CapacitySearch {
 public:
  CapacitySearch(double closed_loop_rps, std::size_t max_probes, double precision = kCapacityPrecision);

  // The rate to probe next; nullopt when the search is over (bracket narrow enough, the
  // budget spent, or nothing passes down to 1/1024 of the closed-loop capacity).
  std::optional<double> next() const;
  void record(double rate, bool passed);

  // The capacity: the highest rate that passed (and passed its repeat); 0 when none did.
  double capacity() const { return low_; }
  // The lowest rate that failed above it; nullopt when nothing failed (the true capacity may
  // be higher than every rate probed).
  std::optional<double> upper_bound() const { return high_; }
  std::size_t probes() const { return probes_; }
  bool budget_spent() const { return probes_ >= max_probes_; }

 private:
  double closed_loop_;
  std::size_t max_probes_;
  double precision_;
  double low_ = 0;
  std::optional<double> high_;
  std::vector<double> passed_;  // every rate that passed and has not failed since
  bool low_confirmed_ = false;
  std::size_t probes_ = 0;
};

}  // namespace mux
