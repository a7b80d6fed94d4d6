#pragma once
// Figures of a run that both the table and the JSON show: CPU per request, and the share of a
// side's cores it used.
#include <cstddef>
#include <cstdint>
#include <optional>

namespace mux {

inline std::optional<double> per_request(const std::optional<double>& cpu_us, std::uint64_t requests) {
  if (!cpu_us || requests == 0) return std::nullopt;
  return *cpu_us / static_cast<double>(requests);
}

inline std::optional<double> utilization(const std::optional<double>& cpu_us, double seconds, std::size_t cores) {
  if (!cpu_us || seconds <= 0 || cores == 0) return std::nullopt;
  return *cpu_us / (seconds * 1e6 * static_cast<double>(cores));
}

}  // namespace mux
