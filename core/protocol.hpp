#pragma once
// What a server backend needs from a protocol: bytes in, bytes out, no syscalls. Each
// connection owns one codec, so a codec may keep state across reads (a header split in two).
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/byte_buffer.hpp"

namespace mux {

class ServerCodec {
 public:
  virtual ~ServerCodec() = default;
  // Consumes all of `in`, appending replies to `out`. Returns false when the peer broke the
  // protocol: the connection flushes what `out` holds and closes.
  virtual bool on_bytes(std::span<const char> in, ByteBuffer& out) = 0;
  // Complete requests answered so far (the server's own count, to cross-check the client's).
  virtual std::uint64_t requests() const = 0;
};

using ServerCodecFactory = std::unique_ptr<ServerCodec> (*)();

// The protocol named `name` ("echo"), or nullptr when there is none by that name.
ServerCodecFactory server_codec_factory(std::string_view name);

}  // namespace mux
