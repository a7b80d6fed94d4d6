#pragma once
// Protocols are pure code: bytes in, bytes out, no syscalls. Each connection owns one codec,
// so a codec may keep state across reads (a header split in two).
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/byte_buffer.hpp"
#include "core/distribution.hpp"

namespace mux {

class ServerCodec {
 public:
  virtual ~ServerCodec() = default;
  // Consumes all of `in`, appending replies to `out`. Returns false when the connection must
  // close once `out` is flushed: the peer asked for it (HTTP's Connection: close) or broke the
  // protocol, which broke_protocol() tells apart (the server counts only the latter as errors).
  virtual bool on_bytes(std::span<const char> in, ByteBuffer& out) = 0;
  virtual bool broke_protocol() const = 0;
  // Complete requests answered so far (the server's own count, to cross-check the client's).
  // A protocol without message boundaries (raw) cannot count them: it returns 0, and
  // protocol_counts_requests() tells the harness to report the count as unknown, never as 0.
  virtual std::uint64_t requests() const = 0;
};

using ServerCodecFactory = std::function<std::unique_ptr<ServerCodec>()>;

// iovecs the load generator hands to one sendmsg, so also the most requests one sendmsg
// carries (each gives at least one): a codec's request iovecs must stay valid across that
// many request_iov() calls of its thread (echo's drawn sizes keep headers in a ring this big).
inline constexpr int kMaxSendIov = 16;

// What the load generator needs from a protocol, per connection: the bytes of each request
// and an incremental check of each reply. Requests are numbered per connection; replies come
// in request order.
class ClientCodec {
 public:
  virtual ~ClientCodec() = default;
  virtual std::size_t request_size(std::uint64_t seq) const = 0;
  // iovecs for bytes [pos, request_size(seq)) of request `seq`; returns how many (at most 2).
  virtual int request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const = 0;

  enum class State { incomplete, complete, invalid };
  struct Progress {
    std::size_t consumed;  // bytes of the input that belong to this reply
    State state;
  };
  // Feeds bytes that follow what was already fed for the reply to request `seq`.
  virtual Progress on_reply(std::uint64_t seq, std::span<const char> bytes) = 0;
  // The connection was replaced: forget any partial reply.
  virtual void reset() = 0;
  // The work the server draws for request `seq` from its bytes (request_work.hpp), in ns, when
  // the protocol was given a work distribution (ClientProtocolOptions::work_us); else 0.
  virtual std::uint64_t request_work_ns(std::uint64_t /*seq*/) const { return 0; }
};

// Makes the client codecs of one load-generator thread; holds what they share.
class ClientProtocol {
 public:
  virtual ~ClientProtocol() = default;
  virtual std::unique_ptr<ClientCodec> make_codec(std::uint64_t connection) const = 0;
};

// The codec of one connection of a SharedRequestsProtocol: its requests are rows of the shared
// table; how far the current reply has come is its own.
template <class Requests>
class SharedRequestsCodec : public ClientCodec {
 public:
  SharedRequestsCodec(const Requests& requests, std::uint64_t connection) : requests_(requests), connection_(connection) {}
  void reset() override { received_ = 0; }

 protected:
  const Requests& requests_;
  std::uint64_t connection_;
  std::size_t received_ = 0;  // of the current reply
};

// A client protocol whose connections all read one immutable table of requests (`Requests`),
// each through its own `Codec(const Requests&, connection)`: the table is built once and shared,
// not copied per connection.
template <class Requests, class Codec>
class SharedRequestsProtocol : public ClientProtocol {
 public:
  template <class... Args>
  explicit SharedRequestsProtocol(Args&&... args) : requests_(std::forward<Args>(args)...) {}
  std::unique_ptr<ClientCodec> make_codec(std::uint64_t connection) const override {
    return std::make_unique<Codec>(requests_, connection);
  }

 private:
  Requests requests_;
};

// What a client protocol is told besides its name.
struct ClientProtocolOptions {
  Distribution message_size = 128;  // echo, raw: payload bytes per request; http: unused
  std::uint64_t seed = 1;           // echo, raw: draws the sizes and the pattern's bytes (request_pattern.hpp)
  // echo: the server's work per request (request_work.hpp), so each request's share can be
  // told: ClientCodec::request_work_ns(). Fixed: not told.
  Distribution work_us = 0;
  // http: the response body every reply must carry, compared byte for byte (muxbench's own
  // server's, or --expect-body). Without it a reply's status, framing and body length are
  // checked, not its body bytes: another server's body is its own business.
  std::optional<std::string> expected_body;
};

// The protocols, by name (protocol_registry.cpp): nullptr / empty / false when there is no such one.
ServerCodecFactory server_codec_factory(std::string_view name);
std::unique_ptr<ClientProtocol> make_client_protocol(std::string_view name, const ClientProtocolOptions& options);
std::vector<std::string> protocol_names();
// "echo: ...; http: ...; raw: ...": one phrase per protocol, for --protocol's help.
std::string protocol_help();
// Whether the server codec's requests() counts requests (see ServerCodec::requests()).
bool protocol_counts_requests(std::string_view name);

}  // namespace mux
