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
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mux {

class RequestPattern {
 public:
  // Places a payload can start at: a prime, so `% kOffsets` uses every bit of the hash.
  static constexpr std::size_t kOffsets = 65521;

  explicit RequestPattern(std::size_t message_size, std::uint64_t seed = 0x6d7578);

  std::size_t message_size() const { return message_size_; }
  // The message_size bytes of request `seq` of `connection`.
  const char* payload(std::uint64_t connection, std::uint64_t seq) const {
    return pattern_.data() + offset(connection, seq);
  }
  static std::size_t offset(std::uint64_t connection, std::uint64_t seq);

 private:
  std::size_t message_size_;
  std::vector<char> pattern_;  // message_size + kOffsets - 1 random bytes
};

}  // namespace mux
