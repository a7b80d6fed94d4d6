#pragma once
// The echo protocol: each message is a 4-byte big-endian payload length followed by the
// payload; the server sends every message back unchanged. The length prefix lets the server
// count messages and refuse oversized ones, and any plain echo server is still a valid peer.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/protocol.hpp"

namespace mux {

inline constexpr std::size_t kEchoHeaderSize = 4;
inline constexpr std::size_t kMaxMessageSize = 1 << 20;  // largest payload: 1 MiB

// Server side. Streams: payload bytes are echoed as they arrive, so a 1 MiB message never
// has to sit whole in memory, and any split of the input gives the same output.
class EchoServerCodec final : public ServerCodec {
 public:
  bool on_bytes(std::span<const char> in, ByteBuffer& out) override;
  bool broke_protocol() const override { return refused_; }  // echo never closes otherwise
  std::uint64_t requests() const override { return requests_; }

 private:
  bool refused_ = false;
  std::array<char, kEchoHeaderSize> header_{};
  std::size_t header_have_ = 0;
  std::size_t payload_left_ = 0;
  bool in_payload_ = false;
  std::uint64_t requests_ = 0;
};

// Client side: request `seq` of a connection is the header plus a slice of a random pattern
// at an offset that depends on `seq`, so a stale, reordered or corrupted echo is caught.
class EchoRequests {
 public:
  explicit EchoRequests(std::size_t message_size, std::uint64_t seed = 0x6d7578);

  std::size_t frame_size() const { return kEchoHeaderSize + message_size_; }
  // iovecs for bytes [pos, frame_size()) of request `seq`; returns how many (at most 2).
  int iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const;
  // Whether `got` equals bytes [pos, pos + got.size()) of request `seq`.
  bool matches(std::uint64_t seq, std::size_t pos, std::span<const char> got) const;

 private:
  static constexpr std::size_t kOffsets = 251;  // prime, so consecutive requests differ
  const char* payload(std::uint64_t seq) const { return pattern_.data() + seq % kOffsets; }

  std::size_t message_size_;
  std::array<char, kEchoHeaderSize> header_{};
  std::vector<char> pattern_;
};

// Client codec of one connection: requests from a shared EchoRequests, replies compared byte
// for byte with what was sent.
class EchoClientCodec final : public ClientCodec {
 public:
  EchoClientCodec(const EchoRequests& requests, std::uint64_t pattern_base)
      : requests_(requests), pattern_base_(pattern_base) {}
  std::size_t request_size(std::uint64_t) const override { return requests_.frame_size(); }
  int request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const override {
    return requests_.iov(pattern_base_ + seq, pos, out);
  }
  Progress on_reply(std::uint64_t seq, std::span<const char> bytes) override;
  void reset() override { received_ = 0; }

 private:
  const EchoRequests& requests_;
  std::uint64_t pattern_base_;  // so that connections do not all send the same bytes
  std::size_t received_ = 0;    // of the current reply
};

class EchoClientProtocol final : public ClientProtocol {
 public:
  explicit EchoClientProtocol(std::size_t message_size) : requests_(message_size) {}
  std::unique_ptr<ClientCodec> make_codec(std::uint64_t connection) const override {
    return std::make_unique<EchoClientCodec>(requests_, connection * 7919);
  }

 private:
  EchoRequests requests_;
};

}  // namespace mux
