// libFuzzer target: EchoServerCodec (core/echo_protocol.cpp) fed a byte stream in chunks of
// sizes taken from the input, its output drained from the ByteBuffer in amounts also taken
// from the input (as a server's short writes do), checked against a reference model:
//  - the echo so far is exactly the input up to the model's "echoed" point: every frame
//    accepted so far, the last one possibly partial (the codec streams), minus a header not
//    yet complete; nothing past the first oversized header (length > kMaxMessageSize);
//  - requests() equals the number of complete frames;
//  - on_bytes returns false exactly when the consumed input holds an oversized header, and
//    then the codec is not fed again.
//
// Input layout: byte 0 picks n = (byte0 % 8) + 1; the next 2n bytes are n (chunk size,
// drain size) pairs used in a cycle (drain 255 = drain everything); the rest is the stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "core/byte_buffer.hpp"
#include "core/echo_protocol.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "echo_framing_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

// memcmp, but an empty ByteBuffer's data() may be null, which memcmp must not be given.
bool same(const char* a, const char* b, std::size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

// The framing, re-derived independently of the codec, over the first `consumed` bytes.
class Model {
 public:
  explicit Model(std::span<const unsigned char> stream) : s_(stream) {}

  void advance_to(std::size_t consumed) {
    consumed_ = consumed;
    while (!refused_ && frame_ + mux::kEchoHeaderSize <= consumed_) {
      const std::size_t length = length_at(frame_);
      if (length > mux::kMaxMessageSize) {
        refused_ = true;
        break;
      }
      if (frame_ + mux::kEchoHeaderSize + length > consumed_) break;  // payload still arriving
      frame_ += mux::kEchoHeaderSize + length;
      ++complete_;
    }
  }
  // How many input bytes the echo must hold by now.
  std::size_t echoed() const {
    if (refused_ || frame_ + mux::kEchoHeaderSize > consumed_) return frame_;  // no partial header
    return std::min(consumed_, frame_ + mux::kEchoHeaderSize + length_at(frame_));
  }
  std::uint64_t complete() const { return complete_; }
  bool refused() const { return refused_; }

 private:
  std::size_t length_at(std::size_t at) const {
    return (std::size_t{s_[at]} << 24) | (std::size_t{s_[at + 1]} << 16) | (std::size_t{s_[at + 2]} << 8) |
           std::size_t{s_[at + 3]};
  }

  std::span<const unsigned char> s_;
  std::size_t consumed_ = 0;
  std::size_t frame_ = 0;  // where the first frame not yet complete starts
  std::uint64_t complete_ = 0;
  bool refused_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t n = data[0] % 8 + 1;
  if (size < 1 + 2 * n) return 0;
  const std::uint8_t* steps = data + 1;
  const std::span<const unsigned char> stream(data + 1 + 2 * n, size - 1 - 2 * n);
  const auto* chars = reinterpret_cast<const char*>(stream.data());

  mux::EchoServerCodec codec;
  mux::ByteBuffer out;
  Model model(stream);
  std::size_t fed = 0;      // input bytes given to the codec
  std::size_t sent = 0;     // echo bytes drained from `out` (all checked when drained)
  std::size_t checked = 0;  // echo bytes compared with the input so far
  bool all_empty = true;  // then the last step feeds 1 byte, so that the loop ends
  for (std::size_t i = 0; i < n; ++i) all_empty = all_empty && steps[2 * i] == 0;

  for (std::size_t i = 0; fed < stream.size(); i = (i + 1) % n) {
    const std::size_t size_i = i == n - 1 && all_empty ? 1 : steps[2 * i];
    const std::size_t chunk = std::min(size_i, stream.size() - fed);

    const bool ok = codec.on_bytes(std::span<const char>(chars + fed, chunk), out);
    fed += chunk;
    model.advance_to(fed);

    check(ok == !model.refused(), "on_bytes returned false exactly at an oversized header");
    check(codec.requests() == model.complete(), "requests() counts the complete frames");
    const std::size_t total = sent + out.size();
    check(total == model.echoed(), "echo length: every accepted byte so far, nothing more");
    // The bytes that appeared since the last check are the input's bytes at the same place.
    const auto pending = out.readable();
    check(same(pending.data() + (checked - sent), chars + checked, total - checked), "echo bytes equal the input bytes");
    checked = total;
    if (!ok) break;

    // Drain some of the echo, as a short write would, and check what leaves (the buffer may
    // have moved those bytes since they were checked).
    const std::size_t want = steps[2 * i + 1] == 255 ? out.size() : steps[2 * i + 1];
    const std::size_t drain = std::min(want, out.size());
    check(same(out.readable().data(), chars + sent, drain), "drained echo bytes equal the input");
    out.consume(drain);
    sent += drain;
  }
  check(same(out.readable().data(), chars + sent, out.size()), "the echo left in the buffer");
  return 0;
}
