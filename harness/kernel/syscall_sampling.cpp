#include "harness/kernel/syscall_sampling.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace mux {

std::optional<CountersMode> parse_counters_mode(const std::string& text, std::string* why) {
  if (text == "on") return CountersMode{};
  if (text == "off") return CountersMode{.enabled = false, .sampling = std::nullopt};
  if (text == "sampled") return CountersMode{.enabled = true, .sampling = SyscallSampling{}};
  constexpr const char* kPrefix = "sampled:";
  if (text.starts_with(kPrefix) && text.ends_with('%')) {
    const std::string number = text.substr(8, text.size() - 9);
    char* end = nullptr;
    const double percent = number.empty() ? NAN : std::strtod(number.c_str(), &end);
    if (end == number.c_str() + number.size() && std::isfinite(percent) && percent > 0 && percent <= 100)
      return CountersMode{.enabled = true, .sampling = SyscallSampling{.duty = percent / 100}};
  }
  *why = fmt::format("{} is not a counters mode; give on, off, sampled or sampled:P% (the share of the window in "
                     "which system calls are counted, 0 < P <= 100, default {:g}%)",
                     text, SyscallSampling::kDefaultDuty * 100);
  return std::nullopt;
}

std::string counters_mode_name(const CountersMode& mode) {
  if (!mode.enabled) return "off";
  if (!mode.sampling) return "on";
  return fmt::format("sampled:{:g}%", mode.sampling->duty * 100);
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> plan_slices(const SyscallSampling& sampling,
                                                                 std::uint64_t begin_ns, std::uint64_t end_ns) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> slices;
  if (end_ns <= begin_ns) return slices;
  const std::uint64_t window = end_ns - begin_ns;
  const std::uint64_t slice = std::min(SyscallSampling::kSliceNs, window);
  const double period = static_cast<double>(slice) / sampling.duty;
  // Rounded: a window a little under whole periods (its edges are read a few ms late) keeps them.
  const auto count = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(static_cast<double>(window) / period)));
  const std::uint64_t share = window / count;
  const std::uint64_t length = std::min(slice, share);
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::uint64_t begin = begin_ns + k * share + (share - length) / 2;
    slices.emplace_back(begin, begin + length);
  }
  return slices;
}

}  // namespace mux
