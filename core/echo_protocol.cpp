#include "core/echo_protocol.hpp"

#include <algorithm>
#include <cstring>

#include "core/request_work.hpp"

namespace mux {

bool EchoServerCodec::on_bytes(std::span<const char> in, ByteBuffer& out) {
  while (!in.empty()) {
    if (!in_payload_) {
      const std::size_t take = std::min(kEchoHeaderSize - header_have_, in.size());
      std::memcpy(header_.data() + header_have_, in.data(), take);
      header_have_ += take;
      in = in.subspan(take);
      if (header_have_ < kEchoHeaderSize) return true;
      const auto* h = reinterpret_cast<const unsigned char*>(header_.data());
      const std::size_t length = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                                 (std::size_t{h[2]} << 8) | std::size_t{h[3]};
      if (length > kMaxMessageSize) {  // oversized: refuse before echoing any of it
        refused_ = true;
        return false;
      }
      header_have_ = 0;
      out.append(header_);
      payload_left_ = length;
      in_payload_ = true;
      key_have_ = 0;
    }
    const std::size_t take = std::min(payload_left_, in.size());
    if (work_us_ && key_have_ < key_.size()) {
      const std::size_t keep = std::min(key_.size() - key_have_, take);
      std::memcpy(key_.data() + key_have_, in.data(), keep);
      key_have_ += keep;
    }
    out.append(in.first(take));
    in = in.subspan(take);
    payload_left_ -= take;
    if (payload_left_ == 0) {
      in_payload_ = false;
      ++requests_;
      if (work_us_) burn_cpu_ns(request_work_ns(*work_us_, {key_.data(), key_have_}));
    }
  }
  return true;
}

EchoRequests::Header EchoRequests::header_for(std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
}

EchoRequests::EchoRequests(std::size_t message_size, std::uint64_t pattern_seed)
    : pattern_(message_size, pattern_seed), header_(header_for(message_size)) {}

EchoRequests::EchoRequests(const Distribution& sizes, std::uint64_t seed, const Distribution& work_us)
    : pattern_(sizes, seed), work_us_(work_us), header_(header_for(pattern_.largest_size())) {}

int EchoRequests::iov(std::uint64_t connection, std::uint64_t seq, std::size_t pos, iovec out[2],
                      HeaderSlots* slots) const {
  int n = 0;
  const std::size_t size = pattern_.size(connection, seq);
  if (pos < kEchoHeaderSize) {
    const char* header = header_.data();
    if (size != pattern_.largest_size()) {
      Header& slot = (slots != nullptr ? *slots : headers_)[seq % kHeaderSlots];
      slot = header_for(size);
      header = slot.data();
    }
    // sendmsg only reads: the cast does not make the header writable.
    out[n++] = {const_cast<char*>(header + pos), kEchoHeaderSize - pos};
    pos = kEchoHeaderSize;
  }
  const std::size_t at = pos - kEchoHeaderSize;
  if (at < size) out[n++] = {const_cast<char*>(pattern_.payload(connection, seq) + at), size - at};
  return n;
}

bool EchoRequests::matches(std::uint64_t connection, std::uint64_t seq, std::size_t pos,
                           std::span<const char> got) const {
  if (pos < kEchoHeaderSize) {
    const std::size_t n = std::min(kEchoHeaderSize - pos, got.size());
    if (std::memcmp(header_for(pattern_.size(connection, seq)).data() + pos, got.data(), n) != 0) return false;
    got = got.subspan(n);
    pos += n;
  }
  if (got.empty()) return true;  // ended inside the header: pos - kEchoHeaderSize would wrap
  return std::memcmp(pattern_.payload(connection, seq) + (pos - kEchoHeaderSize), got.data(), got.size()) == 0;
}

ClientCodec::Progress EchoClientCodec::on_reply(std::uint64_t seq, std::span<const char> bytes) {
  const std::size_t frame = requests_.frame_size(connection_, seq);
  const std::size_t take = std::min(frame - received_, bytes.size());
  if (!requests_.matches(connection_, seq, received_, bytes.first(take))) return {take, State::invalid};
  received_ += take;
  if (received_ < frame) return {take, State::incomplete};
  received_ = 0;
  return {take, State::complete};
}

}  // namespace mux
