#include "core/echo_protocol.hpp"

#include <algorithm>
#include <cstring>

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
    }
    const std::size_t take = std::min(payload_left_, in.size());
    out.append(in.first(take));
    in = in.subspan(take);
    payload_left_ -= take;
    if (payload_left_ == 0) {
      in_payload_ = false;
      ++requests_;
    }
  }
  return true;
}

EchoRequests::EchoRequests(std::size_t message_size, std::uint64_t seed) : pattern_(message_size, seed) {
  const auto n = static_cast<std::uint32_t>(message_size);
  header_ = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
             static_cast<char>(n)};
}

int EchoRequests::iov(std::uint64_t connection, std::uint64_t seq, std::size_t pos, iovec out[2]) const {
  int n = 0;
  if (pos < kEchoHeaderSize) {
    out[n++] = {const_cast<char*>(header_.data() + pos), kEchoHeaderSize - pos};
    pos = kEchoHeaderSize;
  }
  const std::size_t at = pos - kEchoHeaderSize;
  if (at < pattern_.message_size())
    out[n++] = {const_cast<char*>(pattern_.payload(connection, seq) + at), pattern_.message_size() - at};
  return n;
}

bool EchoRequests::matches(std::uint64_t connection, std::uint64_t seq, std::size_t pos,
                           std::span<const char> got) const {
  if (pos < kEchoHeaderSize) {
    const std::size_t n = std::min(kEchoHeaderSize - pos, got.size());
    if (std::memcmp(header_.data() + pos, got.data(), n) != 0) return false;
    got = got.subspan(n);
    pos += n;
  }
  if (got.empty()) return true;  // ended inside the header: pos - kEchoHeaderSize would wrap
  return std::memcmp(pattern_.payload(connection, seq) + (pos - kEchoHeaderSize), got.data(), got.size()) == 0;
}

ClientCodec::Progress EchoClientCodec::on_reply(std::uint64_t seq, std::span<const char> bytes) {
  const std::size_t frame = requests_.frame_size();
  const std::size_t take = std::min(frame - received_, bytes.size());
  if (!requests_.matches(connection_, seq, received_, bytes.first(take))) return {take, State::invalid};
  received_ += take;
  if (received_ < frame) return {take, State::incomplete};
  received_ = 0;
  return {take, State::complete};
}

}  // namespace mux
