#pragma once
// The echo protocol: each message is a 4-byte big-endian payload length followed by the
// payload; the server sends every message back unchanged. The length prefix lets the server
// count messages and refuse oversized ones, and any plain echo server is still a valid peer
// of the client. A plain echo client is not a peer of the server: it speaks raw_protocol.hpp.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/protocol.hpp"
#include "core/request_pattern.hpp"

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

// Client side: request `seq` of connection `c` is the header plus the payload RequestPattern
// gives (c, seq), so each connection sends its own byte stream and a reply that is stale,
// reordered, corrupted or meant for another connection is caught (request_pattern.hpp says
// how surely).
class EchoRequests {
 public:
  explicit EchoRequests(std::size_t message_size, std::uint64_t seed = 0x6d7578);

  std::size_t frame_size() const { return kEchoHeaderSize + pattern_.message_size(); }
  // iovecs for bytes [pos, frame_size()) of request `seq` of `connection`; returns how many (at most 2).
  int iov(std::uint64_t connection, std::uint64_t seq, std::size_t pos, iovec out[2]) const;
  // Whether `got` equals bytes [pos, pos + got.size()) of request `seq` of `connection`.
  bool matches(std::uint64_t connection, std::uint64_t seq, std::size_t pos, std::span<const char> got) const;

 private:
  std::array<char, kEchoHeaderSize> header_{};
  RequestPattern pattern_;
};

// Client codec of one connection: requests from a shared EchoRequests, replies compared byte
// for byte with what was sent.
class EchoClientCodec final : public ClientCodec {
 public:
  EchoClientCodec(const EchoRequests& requests, std::uint64_t connection)
      : requests_(requests), connection_(connection) {}
  std::size_t request_size(std::uint64_t) const override { return requests_.frame_size(); }
  int request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const override {
    return requests_.iov(connection_, seq, pos, out);
  }
  Progress on_reply(std::uint64_t seq, std::span<const char> bytes) override;
  void reset() override { received_ = 0; }

 private:
  const EchoRequests& requests_;
  std::uint64_t connection_;
  std::size_t received_ = 0;  // of the current reply
};

class EchoClientProtocol final : public ClientProtocol {
 public:
  explicit EchoClientProtocol(const ClientProtocolOptions& options) : requests_(options.message_size) {}
  std::unique_ptr<ClientCodec> make_codec(std::uint64_t connection) const override {
    return std::make_unique<EchoClientCodec>(requests_, connection);
  }

 private:
  EchoRequests requests_;
};

}  // namespace mux
