#include "core/request_pattern.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace mux {

std::size_t message_size_at(const Distribution& sizes, double u) {
  const double v = std::round(sizes.quantile(u));
  return static_cast<std::size_t>(std::clamp(v, 1.0, static_cast<double>(kMaxMessageSize)));
}

std::size_t largest_message_size(const Distribution& sizes) {
  return static_cast<std::size_t>(std::clamp(std::round(sizes.max()), 1.0, static_cast<double>(kMaxMessageSize)));
}

RequestPattern::RequestPattern(std::size_t message_size, std::uint64_t pattern_seed)
    : sizes_(static_cast<double>(message_size)),
      fixed_(true),
      seed_(0),
      largest_(message_size),
      pattern_(message_size + kOffsets - 1) {
  std::mt19937_64 rng(pattern_seed);
  for (char& c : pattern_) c = static_cast<char>(rng());
}

// seed 1 (the default) keeps the earlier versions' bytes; another seed gives other bytes, and
// so other server work per request (request_work.hpp draws it from the payload's bytes).
RequestPattern::RequestPattern(const Distribution& sizes, std::uint64_t seed)
    : RequestPattern(largest_message_size(sizes), kDefaultPatternSeed + (seed - 1)) {
  sizes_ = sizes;
  fixed_ = sizes.is_fixed();
  seed_ = seed;
}

std::size_t RequestPattern::offset(std::uint64_t connection, std::uint64_t seq) {
  // mix64(connection) + seq differs for any two requests of one connection and, since mix64 is
  // a bijection, for the same seq of any two connections; the outer mix spreads the offsets.
  return static_cast<std::size_t>(mix64(mix64(connection + 0x9e3779b97f4a7c15ULL) + seq) % kOffsets);
}

}  // namespace mux
