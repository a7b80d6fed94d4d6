#include "core/distribution.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace mux {
namespace {

constexpr double kLargestUnit = 1.0 - 0x1.0p-53;  // the largest u unit_from_bits() gives

[[noreturn]] void refuse(std::string_view spec, std::string_view problem) {
  throw std::invalid_argument(fmt::format("'{}': {}; expected {}", spec, problem, kDistributionForms));
}

double number(std::string_view spec, std::string_view text, std::string_view what) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    refuse(spec, fmt::format("{} '{}' is not a number", what, text));
  if (v < 0) refuse(spec, fmt::format("{} {} is negative", what, text));
  return v;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t at; (at = text.find(sep)) != std::string_view::npos; text.remove_prefix(at + 1))
    parts.push_back(text.substr(0, at));
  parts.push_back(text);
  return parts;
}

}  // namespace

Distribution Distribution::parse(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) return Distribution(number(spec, spec, "the value"));
  const std::string_view name = spec.substr(0, colon);
  const std::string_view args = spec.substr(colon + 1);
  Distribution d;
  if (name == "uniform") {
    const auto dash = args.find('-');
    if (dash == std::string_view::npos) refuse(spec, "uniform needs two bounds, A-B");
    d.kind_ = Kind::uniform;
    d.a_ = number(spec, args.substr(0, dash), "A");
    d.b_ = number(spec, args.substr(dash + 1), "B");
    if (d.a_ > d.b_) refuse(spec, "uniform's A is above its B");
  } else if (name == "exp") {
    d.kind_ = Kind::exponential;
    d.a_ = d.b_ = number(spec, args, "MEAN");
    if (d.a_ <= 0) refuse(spec, "exp's MEAN must be above 0");
  } else if (name == "bimodal") {
    const auto parts = split(args, ':');
    if (parts.size() != 3) refuse(spec, "bimodal needs three numbers, P:A:B");
    d.kind_ = Kind::bimodal;
    d.p_ = number(spec, parts[0], "P");
    if (d.p_ > 1) refuse(spec, "bimodal's P is a fraction, from 0 to 1");
    d.a_ = number(spec, parts[1], "A");
    d.b_ = number(spec, parts[2], "B");
  } else {
    refuse(spec, fmt::format("unknown distribution '{}'", name));
  }
  return d;
}

double Distribution::quantile(double u) const {
  switch (kind_) {
    case Kind::fixed: return a_;
    case Kind::uniform: return a_ + u * (b_ - a_);
    case Kind::exponential: return -a_ * std::log1p(-u);
    case Kind::bimodal: return u < p_ ? a_ : b_;
  }
  return a_;
}

double Distribution::mean() const {
  switch (kind_) {
    case Kind::fixed: case Kind::exponential: return a_;
    case Kind::uniform: return (a_ + b_) / 2;
    case Kind::bimodal: return p_ * a_ + (1 - p_) * b_;
  }
  return a_;
}

// bimodal: A is taken when P > 0, B when P < 1, and A may be the larger.
double Distribution::min() const {
  if (kind_ == Kind::bimodal) return p_ >= 1 ? a_ : p_ <= 0 ? b_ : std::min(a_, b_);
  return quantile(0.0);
}

double Distribution::max() const {
  if (kind_ == Kind::bimodal) return p_ >= 1 ? a_ : p_ <= 0 ? b_ : std::max(a_, b_);
  return quantile(kLargestUnit);
}

bool Distribution::within(double lo, double hi) const {
  if (kind_ == Kind::exponential) return a_ >= lo && a_ <= hi;
  // Both of bimodal's values, even one P never picks: a 0 written in the spec is a mistake.
  if (kind_ == Kind::bimodal) return std::min(a_, b_) >= lo && std::max(a_, b_) <= hi;
  return min() >= lo && max() <= hi;
}

bool Distribution::whole_numbers() const {
  return kind_ == Kind::exponential || (a_ == std::floor(a_) && b_ == std::floor(b_));
}

std::string Distribution::to_string() const {
  switch (kind_) {
    case Kind::fixed: return fmt::format("{}", a_);
    case Kind::uniform: return fmt::format("uniform:{}-{}", a_, b_);
    case Kind::exponential: return fmt::format("exp:{}", a_);
    case Kind::bimodal: return fmt::format("bimodal:{}:{}:{}", p_, a_, b_);
  }
  return {};
}

}  // namespace mux
