// Feeds arbitrary bytes to HttpServerCodec, in reads whose sizes the input itself chooses,
// and checks what must hold whatever the bytes: no crash or undefined behaviour; the same
// output as one single read; nothing fed after a false return; and an output made only of
// whole, known responses, with a closing one last exactly when the codec returned false.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "core/http_protocol.hpp"

namespace {

using mux::ByteBuffer;
using mux::HttpServerCodec;

void require(bool ok) {
  if (!ok) std::abort();
}

struct Reply {
  std::string_view bytes;
  bool ok;     // a 200, counted in requests()
  bool final;  // the connection closes after it
};

std::string_view head_of(std::string_view response) {
  return response.substr(0, response.size() - mux::kHttpBody.size());
}

// Everything the server may write. A HEAD answer is a prefix of the GET answer, so the GET
// answers come first: one is taken only when its body is really there.
const Reply kReplies[] = {
    {mux::kHttpOkKeepAlive, true, false},         {mux::kHttpOkClose, true, true},
    {mux::kHttpOk, true, false},                  {head_of(mux::kHttpOkKeepAlive), true, false},
    {head_of(mux::kHttpOkClose), true, true},     {head_of(mux::kHttpOk), true, false},
    {mux::kHttpHeadTooLarge, false, true},        {mux::kHttpBadRequest, false, true},
};

// Splits `out` into known responses; checks their order and count against what the codec said.
void check_output(std::string_view out, bool returned, std::uint64_t requests) {
  std::uint64_t oks = 0;
  bool closed = false;
  while (!out.empty()) {
    require(!closed);  // nothing after a closing response
    require(out.starts_with("HTTP/1.1 "));
    const Reply* match = nullptr;
    for (const Reply& r : kReplies) {
      if (out.starts_with(r.bytes)) {
        match = &r;
        break;
      }
    }
    require(match != nullptr);
    oks += match->ok ? 1 : 0;
    closed = match->final;
    out.remove_prefix(match->bytes.size());
  }
  require(oks == requests);
  require(closed == !returned);
}

std::uint32_t next(std::uint32_t& state) {  // xorshift32: reproducible read sizes
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte chooses the reads: 0, one single read; 1, byte by byte; n, 1..n bytes each.
  const std::uint8_t max_read = data[0];
  std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);

  HttpServerCodec split;
  ByteBuffer split_out;
  bool split_ok = true;
  std::uint32_t rng = 0x9e3779b9u ^ max_read;
  while (!in.empty() && split_ok) {  // after a false return the codec is never fed again
    const std::size_t n = max_read == 0 ? in.size() : 1 + next(rng) % max_read;
    const auto read = in.first(n < in.size() ? n : in.size());
    in = in.subspan(read.size());
    split_ok = split.on_bytes(read, split_out);
  }
  const auto split_text = split_out.readable();
  check_output({split_text.data(), split_text.size()}, split_ok, split.requests());
  require(!split.close_requested() || !split_ok);

  // However the input was cut, one read gives the same answer.
  HttpServerCodec whole;
  ByteBuffer whole_out;
  const bool whole_ok = whole.on_bytes({reinterpret_cast<const char*>(data) + 1, size - 1}, whole_out);
  const auto whole_text = whole_out.readable();
  require(whole_ok == split_ok);
  require(whole.requests() == split.requests());
  require(std::string_view(whole_text.data(), whole_text.size()) ==
          std::string_view(split_text.data(), split_text.size()));
  return 0;
}
