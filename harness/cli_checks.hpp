#pragma once
// CLI11 validators shared by the commands' flags.
#include <cmath>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

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

}  // namespace mux
