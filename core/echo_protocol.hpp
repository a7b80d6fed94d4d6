#pragma once
// The echo protocol: each message is a 4-byte big-endian payload length followed by the
// payload; the server sends every message back unchanged. The length prefix lets the server
// count messages and refuse oversized ones, and any plain echo server is still a valid peer
// of the client. A plain echo client is not a peer of the server: it speaks raw_protocol.hpp.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "core/protocol.hpp"
#include "core/request_pattern.hpp"
#include "core/request_work.hpp"

namespace mux {

inline constexpr std::size_t kEchoHeaderSize = 4;

// Server side. Streams: payload bytes are echoed as they arrive, so a 1 MiB message never
// has to sit whole in memory, and any split of the input gives the same output.
//
// With a work distribution (request_work.hpp) it burns each request's drawn work once the
// request is complete, drawn from the first kWorkKeyBytes of its payload, kept as they stream by.
class EchoServerCodec final : public ServerCodec {
 public:
  EchoServerCodec() = default;
  explicit EchoServerCodec(std::shared_ptr<const Distribution> work_us) : work_us_(std::move(work_us)) {}
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
  std::shared_ptr<const Distribution> work_us_;  // none: no work (request_work.hpp wraps fixed work)
  std::array<char, kWorkKeyBytes> key_{};        // the payload's first bytes, for the work's draw
  std::size_t key_have_ = 0;
};

// Client side: request `seq` of connection `c` is the header plus the payload RequestPattern
// gives (c, seq), so each connection sends its own byte stream and a reply that is stale,
// reordered, corrupted or meant for another connection is caught (request_pattern.hpp says
// how surely). With drawn sizes each request has its own header too.
class EchoRequests {
 public:
  explicit EchoRequests(std::size_t message_size, std::uint64_t pattern_seed = RequestPattern::kDefaultPatternSeed);
  // Sizes drawn per request from `sizes` under the run's `seed` (request_pattern.hpp); the
  // server's `work_us`, when drawn, tells each request's work (work_ns()).
  EchoRequests(const Distribution& sizes, std::uint64_t seed, const Distribution& work_us = 0);

  std::size_t frame_size(std::uint64_t connection, std::uint64_t seq) const {
    return kEchoHeaderSize + pattern_.size(connection, seq);
  }
  using Header = std::array<char, kEchoHeaderSize>;
  // Requests whose headers can be pending at once: those of one sendmsg (protocol.hpp).
  static constexpr std::size_t kHeaderSlots = kMaxSendIov;
  // Drawn sizes: where iov() writes each request's header, by seq % kHeaderSlots. A connection
  // keeps its own (a send in flight on one is not overwritten by another's requests: the
  // io_uring load thread hands the kernel one connection's iovecs while it builds the next's).
  using HeaderSlots = std::array<Header, kHeaderSlots>;
  bool drawn_sizes() const { return !pattern_.sizes_fixed(); }

  // iovecs for bytes [pos, frame_size()) of request `seq` of `connection`; returns how many (at
  // most 2). With drawn sizes the header is written to `slots` (nullptr: to this object's own,
  // shared by every caller), so they stay valid until iov() has been called with the same
  // slots for kHeaderSlots more requests.
  int iov(std::uint64_t connection, std::uint64_t seq, std::size_t pos, iovec out[2],
          HeaderSlots* slots = nullptr) const;
  // Whether `got` equals bytes [pos, pos + got.size()) of request `seq` of `connection`.
  bool matches(std::uint64_t connection, std::uint64_t seq, std::size_t pos, std::span<const char> got) const;
  // The payload of request `seq` of `connection` (what the server's work is drawn from).
  std::span<const char> payload(std::uint64_t connection, std::uint64_t seq) const {
    return {pattern_.payload(connection, seq), pattern_.size(connection, seq)};
  }

  // The work the server draws for request `seq` of `connection` (request_work.hpp); 0 when the
  // work is not drawn.
  std::uint64_t work_ns(std::uint64_t connection, std::uint64_t seq) const {
    if (work_us_.is_fixed()) return 0;
    const auto p = payload(connection, seq);
    return request_work_ns(work_us_, p.first(std::min(p.size(), kWorkKeyBytes)));
  }


 private:
  static Header header_for(std::size_t size);

  RequestPattern pattern_;
  Distribution work_us_;
  Header header_{};  // fixed size: the one header of every request
  // Drawn sizes, iov() without slots of the caller's. One thread uses this object (tests, the
  // micro-benchmarks), so a mutable scratch is safe.
  mutable HeaderSlots headers_{};
};

// Client codec of one connection: requests from a shared EchoRequests, replies compared byte
// for byte with what was sent.
class EchoClientCodec final : public SharedRequestsCodec<EchoRequests> {
 public:
  EchoClientCodec(const EchoRequests& requests, std::uint64_t connection)
      : SharedRequestsCodec(requests, connection),
        headers_(requests.drawn_sizes() ? std::make_unique<EchoRequests::HeaderSlots>() : nullptr) {}
  std::size_t request_size(std::uint64_t seq) const override { return requests_.frame_size(connection_, seq); }
  int request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const override {
    return requests_.iov(connection_, seq, pos, out, headers_.get());
  }
  Progress on_reply(std::uint64_t seq, std::span<const char> bytes) override;
  std::uint64_t request_work_ns(std::uint64_t seq) const override { return requests_.work_ns(connection_, seq); }

 private:
  // Drawn sizes: the headers iov() hands out. Only this connection's thread uses it.
  std::unique_ptr<EchoRequests::HeaderSlots> headers_;
};

class EchoClientProtocol final : public SharedRequestsProtocol<EchoRequests, EchoClientCodec> {
 public:
  explicit EchoClientProtocol(const ClientProtocolOptions& o) : SharedRequestsProtocol(o.message_size, o.seed, o.work_us) {}
};

}  // namespace mux
