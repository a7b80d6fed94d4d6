// HttpClientCodec: the load generator's side of HTTP mode (its server side is core/http_protocol.cpp).
#include <algorithm>
#include <cstring>
#include <limits>

#include "core/http_chars.hpp"
#include "core/http_protocol.hpp"

namespace mux {

int HttpClientCodec::request_iov(std::uint64_t, std::size_t pos, iovec out[2]) const {
  if (pos >= kHttpRequest.size()) return 0;
  // sendmsg only reads: the cast does not make the constant writable.
  out[0] = {const_cast<char*>(kHttpRequest.data() + pos), kHttpRequest.size() - pos};
  return 1;
}

ClientCodec::Progress HttpClientCodec::on_reply(std::uint64_t, std::span<const char> bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::invalid) {
    if (state_ == State::body || state_ == State::chunk_data) {  // counted; compared when expected
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, bytes.size() - i));
      if (!body_bytes_expected(bytes.subspan(i, take))) {
        state_ = State::invalid;
        break;
      }
      i += take;
      left_ -= take;
      body_seen_ += take;
      if (left_ > 0) break;
      state_ = state_ == State::body ? State::done : State::chunk_end;
    } else {
      state_ = line_byte(bytes[i++]);
    }
    if (state_ == State::done) {
      // Only now is a chunked body's length known: shorter than expected is wrong too.
      if (expected_body_ && body_seen_ != expected_body_->size()) {
        state_ = State::invalid;
        break;
      }
      reset();
      return {i, ClientCodec::State::complete};
    }
  }
  return {i, state_ == State::invalid ? ClientCodec::State::invalid : ClientCodec::State::incomplete};
}

// Whether `bytes`, the body's next ones, are those expected (any are, when none are expected).
bool HttpClientCodec::body_bytes_expected(std::span<const char> bytes) const {
  if (!expected_body_ || bytes.empty()) return true;
  if (body_seen_ + bytes.size() > expected_body_->size()) return false;
  return std::memcmp(expected_body_->data() + body_seen_, bytes.data(), bytes.size()) == 0;
}

// One byte of the status line, headers, chunk lines or trailers: the state that follows.
HttpClientCodec::State HttpClientCodec::line_byte(char c) {
  if (++line_size_ > kHttpMaxHeadSize) return State::invalid;
  switch (http_chars::check_cr(cr_, c)) {
    case http_chars::Cr::drop: return state_;
    case http_chars::Cr::bad: return State::invalid;
    case http_chars::Cr::keep: break;
  }
  switch (state_) {
    case State::status: return status_byte(c);
    case State::reason:
      if (c == '\n') return State::headers;
      return http_chars::is_ctl(c) && c != '\t' ? State::invalid : State::reason;
    case State::headers:
      switch (headers_.feed(c)) {
        case HttpHeaderParser::Result::more: return State::headers;
        case HttpHeaderParser::Result::done: return end_headers();
        case HttpHeaderParser::Result::bad: return State::invalid;
      }
      break;
    case State::chunk_size: return chunk_size_byte(c);
    case State::chunk_ext:  // extensions are skipped, whatever they say
      if (c == '\n') return end_chunk_line();
      return http_chars::is_ctl(c) && c != '\t' ? State::invalid : State::chunk_ext;
    case State::chunk_end:  // the line end after a chunk's data
      if (c != '\n') return State::invalid;
      token_size_ = 0;
      return State::chunk_size;
    case State::trailers:  // header lines after the last chunk: checked, then ignored
      switch (headers_.feed(c)) {
        case HttpHeaderParser::Result::more: return State::trailers;
        case HttpHeaderParser::Result::done: return State::done;
        case HttpHeaderParser::Result::bad: return State::invalid;
      }
      break;
    case State::body:
    case State::chunk_data:
    case State::done:
    case State::invalid: break;
  }
  return State::invalid;
}

// "HTTP/1.x 200", then SP and a reason phrase, or (some servers) the line end at once.
HttpClientCodec::State HttpClientCodec::status_byte(char c) {
  constexpr std::string_view kStart = "HTTP/1.";
  constexpr std::string_view kCode = " 200";
  const std::size_t at = token_size_++;
  if (at < kStart.size()) return c == kStart[at] ? State::status : State::invalid;
  if (at == kStart.size()) return http_chars::is_digit(c) ? State::status : State::invalid;
  const std::size_t code_at = at - kStart.size() - 1;
  if (code_at < kCode.size()) return c == kCode[code_at] ? State::status : State::invalid;
  if (c == ' ') return State::reason;
  return c == '\n' ? State::headers : State::invalid;
}

HttpClientCodec::State HttpClientCodec::end_headers() {
  // The body must have exactly one framing: with none it would end only at the close.
  if (headers_.has_transfer_encoding() == headers_.has_content_length()) return State::invalid;
  if (headers_.has_transfer_encoding()) {
    if (!headers_.chunked()) return State::invalid;
    token_size_ = 0;
    left_ = 0;
    return State::chunk_size;
  }
  left_ = headers_.content_length();
  if (expected_body_ && left_ != expected_body_->size()) return State::invalid;  // before reading it
  line_size_ = 0;
  return left_ > 0 ? State::body : State::done;
}

HttpClientCodec::State HttpClientCodec::chunk_size_byte(char c) {
  if (const int digit = http_chars::hex_value(c); digit >= 0) {
    if (left_ > std::numeric_limits<std::uint64_t>::max() >> 4) return State::invalid;
    left_ = left_ << 4 | static_cast<std::uint64_t>(digit);
    ++token_size_;
    return State::chunk_size;
  }
  if (token_size_ == 0) return State::invalid;
  if (c == ';' || c == ' ' || c == '\t') return State::chunk_ext;
  return c == '\n' ? end_chunk_line() : State::invalid;
}

// A chunk size was read: its data follows, or, after the last (size 0) chunk, the trailers.
HttpClientCodec::State HttpClientCodec::end_chunk_line() {
  if (left_ == 0) {
    headers_.reset();
    return State::trailers;
  }
  line_size_ = 0;
  return State::chunk_data;
}

}  // namespace mux
