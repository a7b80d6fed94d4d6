#pragma once
// One monotonic clock for every timestamp: CLOCK_MONOTONIC through the vDSO (no syscall),
// immune to wall-clock steps, unlike the gettimeofday that wrk uses.
#include <time.h>

#include <cstdint>

namespace mux {

inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

constexpr std::uint64_t seconds_to_ns(double s) { return static_cast<std::uint64_t>(s * 1e9); }

}  // namespace mux
