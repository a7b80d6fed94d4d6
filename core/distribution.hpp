#pragma once
// A per-request quantity that varies from request to request: --message-size and --work-us
// take one. One real value per request, drawn by inverse transform: a uniform u in [0, 1),
// derived from what identifies the request (see draw_unit()), goes through quantile(u). So a
// request's value is a pure function of its identity, and a run is repeatable draw for draw.
//
// The forms (parse() accepts exactly these; to_string() writes them back):
//   N               every request takes N (what a plain number always meant)
//   uniform:A-B     uniform between A and B, A <= B
//   exp:MEAN        exponential with this mean, MEAN > 0
//   bimodal:P:A:B   a fraction P in [0, 1] of the requests take A, the others B
#include <cstdint>
#include <string>
#include <string_view>

namespace mux {

class Distribution {
 public:
  enum class Kind { fixed, uniform, exponential, bimodal };

  // A number is the fixed distribution: implicit, so `config.message_size = 4096` keeps working.
  Distribution(double value = 0) : kind_(Kind::fixed), a_(value), b_(value) {}  // NOLINT(google-explicit-constructor)

  // Throws std::invalid_argument whose message names the problem and the accepted forms.
  static Distribution parse(std::string_view spec);

  Kind kind() const { return kind_; }
  bool is_fixed() const { return kind_ == Kind::fixed; }
  // The value at u in [0, 1): non-decreasing in u (but for bimodal with A > B).
  double quantile(double u) const;
  double mean() const;
  // quantile(0.5): the split between "short" and "long" requests (bimodal with P = 0.5: B).
  double median() const { return quantile(0.5); }
  double min() const;
  // The largest value quantile() gives for any u draw_unit() can produce: finite for exp too
  // (u <= 1 - 2^-53, so at most MEAN * 53 ln 2, about 36.7 MEAN).
  double max() const;
  // "128", "uniform:64-4096", "exp:100", "bimodal:0.9:0:2000": parse(to_string()) == *this.
  std::string to_string() const;
  // Every value a request can take is within [lo, hi]; exp, unbounded above and reaching 0,
  // is checked by its mean only: its draws are clamped to the range by whoever uses them.
  bool within(double lo, double hi) const;
  // Every value written in the spec is a whole number (exp's MEAN need not be): for sizes.
  bool whole_numbers() const;

  bool operator==(const Distribution&) const = default;

 private:
  Kind kind_;
  double a_, b_;   // fixed: a_ = b_ = N; uniform: A, B; exp: a_ = MEAN; bimodal: A, B
  double p_ = 1;   // bimodal: the fraction that takes A
};

// One line for a flag's help and errors: the forms above.
inline constexpr std::string_view kDistributionForms = "N, uniform:A-B, exp:MEAN or bimodal:P:A:B";

// splitmix64's finalizer: a bijection of 64-bit integers whose every output bit depends on
// every input bit. The one mixer of the request identities (offsets, draws, work keys).
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// u in [0, 1) from 64 random bits: the top 53, so every u is exactly a double and u < 1.
inline double unit_from_bits(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// The u of request `seq` of `connection` under `seed`: unrelated to RequestPattern's offsets
// (other constants), so a request's size says nothing about where its payload starts.
inline double draw_unit(std::uint64_t seed, std::uint64_t connection, std::uint64_t seq) {
  return unit_from_bits(mix64(mix64(mix64(seed ^ 0x5851f42d4c957f2dULL) + connection) + seq));
}

}  // namespace mux
