#pragma once
// CLI11 validators shared by the commands' flags.
#include <cmath>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/distribution.hpp"

namespace mux {

// CLI::Range for a floating-point flag that also refuses NaN and infinities. Range compares
// the value with its bounds, and every comparison with NaN is false, so NaN passes any range
// (`--duration=nan` once reached the load generator and ended in std::bad_alloc).
inline CLI::Validator FiniteRange(double min, double max) {
  const CLI::Range range(min, max);
  return CLI::Validator(
      [range, min, max](std::string& text) -> std::string {
        double value = 0;
        if (CLI::detail::lexical_cast(text, value) && !std::isfinite(value))
          return fmt::format("{} is not a finite number; give one from {} to {}", text, min, max);
        return range(text);
      },
      range.get_description());
}

// A value per request (--message-size, --work-us): N, uniform:A-B, exp:MEAN or bimodal:P:A:B
// (core/distribution.hpp) whose values are within [min, max] (exp: its mean; its draws are
// clamped), and whole numbers when `whole`.
inline CLI::Validator DistributionWithin(double min, double max, bool whole) {
  return CLI::Validator(
      [min, max, whole](std::string& text) -> std::string {
        try {
          const Distribution d = Distribution::parse(text);
          if (!d.within(min, max))
            return fmt::format("'{}': every value must be from {} to {}", text, min, max);
          if (whole && !d.whole_numbers()) return fmt::format("'{}': the values must be whole numbers", text);
          return {};
        } catch (const std::invalid_argument& e) {
          return e.what();
        }
      },
      fmt::format("{}, from {} to {}", kDistributionForms, min, max));
}

}  // namespace mux
