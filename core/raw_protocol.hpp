#pragma once
// The raw protocol: plain TCP echo (RFC 862), no framing at all. The server sends back every
// byte as it arrives; the client sends --message-size bytes and waits for exactly that many
// back. So any ordinary echo client can drive muxbench's servers, and muxbench's load
// generator can drive any ordinary echo server.
//
// The price of no framing: the server cannot tell where one request ends, so it cannot count
// requests (protocol_counts_requests("raw") is false and the server's count is reported as
// unknown), and it cannot refuse anything: whatever arrives is echoed. Output is queued in the
// connection's ByteBuffer like any codec's, so the backends' backpressure (stop reading while
// too much output waits) applies unchanged.
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/protocol.hpp"
#include "core/request_pattern.hpp"

namespace mux {

class RawServerCodec final : public ServerCodec {
 public:
  bool on_bytes(std::span<const char> in, ByteBuffer& out) override {
    out.append(in);
    return true;
  }
  bool broke_protocol() const override { return false; }  // every byte stream is valid
  // Not countable without framing: always 0, and the harness reports null (see protocol.hpp).
  std::uint64_t requests() const override { return 0; }
};

// Client codec of one connection: request `seq` is the RequestPattern payload of
// (connection, seq); its reply is the next size(connection, seq) bytes, compared byte for byte.
class RawClientCodec final : public SharedRequestsCodec<RequestPattern> {
 public:
  using SharedRequestsCodec::SharedRequestsCodec;
  std::size_t request_size(std::uint64_t seq) const override { return requests_.size(connection_, seq); }
  int request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const override;
  Progress on_reply(std::uint64_t seq, std::span<const char> bytes) override;
};

class RawClientProtocol final : public SharedRequestsProtocol<RequestPattern, RawClientCodec> {
 public:
  explicit RawClientProtocol(const ClientProtocolOptions& o) : SharedRequestsProtocol(o.message_size, o.seed) {}
};

}  // namespace mux
