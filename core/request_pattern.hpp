#pragma once
// The payloads the load generator sends (echo and raw protocols): slices of one shared random
// pattern, so requests are pre-built and sent straight from it (no per-request copy or
// allocation). Where request `seq` of connection `c` starts in the pattern is a hash of
// (c, seq) over kOffsets places, so every connection sends its own byte stream: a reply that
// went to the wrong connection, or a stale or reordered one, is caught as a mismatch.
//
// What the hash cannot promise: two requests (of one connection or of two) start at the same
// place with probability 1/kOffsets, and then carry the same bytes; two different places can
// carry the same bytes too when messages are tiny (a 1-byte message differs from another with
// probability 255/256 only). A misdirected reply therefore escapes notice for one request
// now and then, but a stream of k requests matches another with probability about
// max(1/kOffsets, 1/256^size)^k: a server that keeps misrouting is caught within a few requests.
//
// Sizes: fixed (--message-size=N), or drawn per request from a Distribution under the run's
// seed (draw_unit(seed, connection, seq)), so a run sends the same sizes every time. The
// pattern is as long as the largest size can be, so every payload is still one slice of it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/distribution.hpp"

namespace mux {

inline constexpr std::size_t kMaxMessageSize = 1 << 20;  // largest payload: 1 MiB (echo refuses more)

// Payload bytes of a request whose draw is `u`: the value rounded to the nearest byte and
// clamped to [1, kMaxMessageSize] (exp reaches 0 and has no upper bound; the CLI checks the
// other forms' values are in that range already).
std::size_t message_size_at(const Distribution& sizes, double u);
// The largest message_size_at() can give: how long the pattern must be.
std::size_t largest_message_size(const Distribution& sizes);

class RequestPattern {
 public:
  // Places a payload can start at: a prime, so `% kOffsets` uses every bit of the hash.
  static constexpr std::size_t kOffsets = 65521;
  // The pattern's bytes with --seed=1, the default: the bytes every earlier version sent.
  static constexpr std::uint64_t kDefaultPatternSeed = 0x6d7578;

  explicit RequestPattern(std::size_t message_size, std::uint64_t pattern_seed = kDefaultPatternSeed);
  // Sizes drawn from `sizes` under the run's `seed`, which also picks the pattern's bytes.
  RequestPattern(const Distribution& sizes, std::uint64_t seed);

  // Payload bytes of request `seq` of `connection`.
  std::size_t size(std::uint64_t connection, std::uint64_t seq) const {
    return fixed_ ? largest_ : message_size_at(sizes_, draw_unit(seed_, connection, seq));
  }
  std::size_t largest_size() const { return largest_; }
  bool sizes_fixed() const { return fixed_; }
  // The size(connection, seq) bytes of request `seq` of `connection`.
  const char* payload(std::uint64_t connection, std::uint64_t seq) const {
    return pattern_.data() + offset(connection, seq);
  }
  static std::size_t offset(std::uint64_t connection, std::uint64_t seq);

 private:
  Distribution sizes_;
  bool fixed_;
  std::uint64_t seed_;
  std::size_t largest_;
  std::vector<char> pattern_;  // largest + kOffsets - 1 random bytes
};

}  // namespace mux
