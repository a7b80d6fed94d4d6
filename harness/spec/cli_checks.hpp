#pragma once
// CLI11 validators shared by the commands' flags.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/distribution.hpp"
#include "core/usage_error.hpp"

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

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF). Text flags end up in JSON, and nlohmann::json throws on a malformed string only
// when it is dumped: after the whole run was measured.
inline bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char c = byte(i);
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F;  // no UTF-16 surrogates
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;  // nothing past U+10FFFF
    else return false;
    if (i + len > text.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned b = byte(i + k);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

// A whole number from 0 to `max`, in decimal digits only. CLI11 reads an unsigned flag with
// strtoull, which takes "-1" as 2^64 - 1 and clamps 2^64 and beyond to it, silently.
inline CLI::Validator WholeNumber(std::uint64_t max = UINT64_MAX) {
  return CLI::Validator(
      [max](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || error != std::errc() || stop != end || value > max)
          return fmt::format("'{}' is not a whole number from 0 to {}; give one in decimal digits", text, max);
        return {};
      },
      fmt::format("UINT:0..{}", max));
}

// `--name=` with nothing after '=': CLI11 then takes the next argument as the value, so
// `--json= --clients=5` wrote a file named "--clients=5" and ran the default 100 clients.
// Throws UsageError naming the first such flag of argv[1..] (up to a "--").
inline void refuse_empty_values(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return;
    if (arg.starts_with("--") && arg.size() > 3 && arg.find('=') == arg.size() - 1) {
      const std::string_view flag = arg.substr(0, arg.size() - 1);
      throw UsageError(fmt::format("{}= has no value; give {}=VALUE, or drop {}", flag, flag, flag));
    }
  }
}

// CLI11 validator for a text flag that reaches the JSON: refuses malformed UTF-8 at parse time.
inline CLI::Validator Utf8Text() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return is_valid_utf8(text) ? std::string{} : "is not valid UTF-8; give the text in UTF-8";
      },
      "UTF-8 TEXT");
}

}  // namespace mux
