#include "core/request_pattern.hpp"

#include <random>

namespace mux {
namespace {

// splitmix64's finalizer: a bijection of 64-bit integers whose every output bit depends on
// every input bit.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

RequestPattern::RequestPattern(std::size_t message_size, std::uint64_t seed)
    : message_size_(message_size), pattern_(message_size + kOffsets - 1) {
  std::mt19937_64 rng(seed);
  for (char& c : pattern_) c = static_cast<char>(rng());
}

std::size_t RequestPattern::offset(std::uint64_t connection, std::uint64_t seq) {
  // mix(connection) + seq differs for any two requests of one connection and, since mix is a
  // bijection, for the same seq of any two connections; the outer mix spreads the offsets.
  return static_cast<std::size_t>(mix(mix(connection + 0x9e3779b97f4a7c15ULL) + seq) % kOffsets);
}

}  // namespace mux
