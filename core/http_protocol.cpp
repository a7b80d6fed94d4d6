#include "core/http_protocol.hpp"

#include "core/http_chars.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace mux {
namespace {

static_assert(kHttpOk.ends_with(kHttpBody) && kHttpOkClose.ends_with(kHttpBody) &&
                  kHttpOkKeepAlive.ends_with(kHttpBody),
              "HEAD answers are the 200 responses less the body");

}  // namespace

// --- Header section ---------------------------------------------------------------------

HttpHeaderParser::Result HttpHeaderParser::feed(char c) {
  switch (state_) {
    case State::line_start: return start_line(c);
    case State::name: return name_byte(c);
    case State::value_start:
      if (c == ' ' || c == '\t') return Result::more;  // leading white space is not the value
      state_ = State::value;
      return value_byte(c);
    case State::value: return value_byte(c);
  }
  return Result::bad;
}

HttpHeaderParser::Result HttpHeaderParser::start_line(char c) {
  if (c == '\n') return Result::done;  // the empty line ends the section
  // A line that starts with white space would continue the previous one (obs-fold): RFC 9112
  // lets a server refuse it, and a client has no use for it either.
  if (!http_chars::is_tchar(c)) return Result::bad;
  state_ = State::name;
  return name_byte(c);
}

HttpHeaderParser::Result HttpHeaderParser::name_byte(char c) {
  if (c != ':') {
    // Anything else, white space before the colon included, is an error (RFC 9112 5.1), as
    // is a line end: a header line without a colon.
    if (!http_chars::is_tchar(c)) return Result::bad;
    if (word_size_ < word_.size())
      word_[word_size_++] = http_chars::to_lower(c);
    else
      word_too_long_ = true;
    return Result::more;
  }
  const std::string_view name = word_too_long_ ? std::string_view() : std::string_view(word_.data(), word_size_);
  field_ = name == "content-length"      ? Field::content_length
           : name == "connection"        ? Field::connection
           : name == "transfer-encoding" ? Field::transfer_encoding
                                         : Field::other;
  if (field_ == Field::transfer_encoding) has_transfer_encoding_ = true;
  word_size_ = 0;
  word_too_long_ = false;
  number_ = 0;
  has_digits_ = digits_ended_ = false;
  state_ = State::value_start;
  return Result::more;
}

HttpHeaderParser::Result HttpHeaderParser::value_byte(char c) {
  if (c == '\n') return end_value();
  if (http_chars::is_ctl(c) && c != '\t') return Result::bad;
  switch (field_) {
    case Field::content_length: return content_length_digit(c) ? Result::more : Result::bad;
    case Field::connection:
    case Field::transfer_encoding:  // comma-separated lists of words; white space separates too
      if (c == ',' || c == ' ' || c == '\t')
        end_word();
      else if (word_size_ < word_.size())
        word_[word_size_++] = http_chars::to_lower(c);
      else
        word_too_long_ = true;
      return Result::more;
    case Field::other: return Result::more;
  }
  return Result::bad;
}

bool HttpHeaderParser::content_length_digit(char c) {
  if (c == ' ' || c == '\t') {  // trailing white space; none can come before (value_start)
    digits_ended_ = true;
    return true;
  }
  if (!http_chars::is_digit(c) || digits_ended_) return false;  // "12 3", "0x10", "-1", "5, 5"
  const auto digit = static_cast<std::uint64_t>(c - '0');
  if (number_ > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
  number_ = number_ * 10 + digit;
  has_digits_ = true;
  return true;
}

void HttpHeaderParser::end_word() {
  const std::string_view word = word_too_long_ ? std::string_view() : std::string_view(word_.data(), word_size_);
  if (field_ == Field::connection) {
    close_ = close_ || word == "close";
    keep_alive_ = keep_alive_ || word == "keep-alive";
  } else if (!word.empty()) {  // transfer-encoding: the last coding is the one that frames
    chunked_ = word == "chunked";
  }
  word_size_ = 0;
  word_too_long_ = false;
}

HttpHeaderParser::Result HttpHeaderParser::end_value() {
  if (field_ == Field::content_length) {
    if (!has_digits_) return Result::bad;
    // Two different lengths: the message has no single end (a request smuggling classic).
    if (has_content_length_ && content_length_ != number_) return Result::bad;
    has_content_length_ = true;
    content_length_ = number_;
  } else if (field_ != Field::other) {
    end_word();
  }
  field_ = Field::other;
  state_ = State::line_start;
  return Result::more;
}

// --- Server -----------------------------------------------------------------------------

bool HttpServerCodec::on_bytes(std::span<const char> in, ByteBuffer& out) {
  if (state_ == State::closed) return false;
  std::size_t i = 0;
  while (i < in.size()) {
    if (state_ == State::body) {  // skipped in one step, whatever its size
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, in.size() - i));
      i += take;
      body_left_ -= take;
      if (body_left_ == 0 && !answer(out)) return false;
      continue;
    }
    if (!head_byte(in[i++], out)) return false;
  }
  return true;
}

bool HttpServerCodec::head_byte(char c, ByteBuffer& out) {
  // Counted before anything else, so no request head can hold the parser past the limit.
  if (++head_size_ > kHttpMaxHeadSize) return refuse(kHttpHeadTooLarge, out);
  switch (http_chars::check_cr(cr_, c)) {
    case http_chars::Cr::drop: return true;
    case http_chars::Cr::bad: return refuse(kHttpBadRequest, out);
    case http_chars::Cr::keep: break;
  }
  if (state_ != State::headers) {
    if (start_line_byte(c)) return true;
    return refuse(kHttpBadRequest, out);
  }
  switch (headers_.feed(c)) {
    case HttpHeaderParser::Result::more: return true;
    case HttpHeaderParser::Result::done: return end_head(out);
    case HttpHeaderParser::Result::bad: break;
  }
  return refuse(kHttpBadRequest, out);
}

// The request line, "method SP target SP HTTP/1.x": false when it is malformed.
bool HttpServerCodec::start_line_byte(char c) {
  switch (state_) {
    case State::method:
      if (c == '\n' && token_size_ == 0) return true;  // blank lines before a request (RFC 9112 2.2)
      if (c == ' ' && token_size_ > 0) {
        head_method_ = head_method_ && token_size_ == 4;
        state_ = State::target;
        token_size_ = 0;
        return true;
      }
      if (!http_chars::is_tchar(c)) return false;
      head_method_ = (token_size_ == 0 || head_method_) && token_size_ < 4 && c == "HEAD"[token_size_];
      ++token_size_;
      return true;
    case State::target:
      if (c == ' ' && token_size_ > 0) {
        state_ = State::version;
        token_size_ = 0;
        return true;
      }
      if (c == ' ' || http_chars::is_ctl(c)) return false;  // an LF here: an HTTP/0.9 request, refused
      ++token_size_;
      return true;
    case State::version: {
      constexpr std::string_view kPrefix = "HTTP/1.";
      if (token_size_ < kPrefix.size()) return c == kPrefix[token_size_++];
      if (!http_chars::is_digit(c)) return false;
      http10_ = c == '0';  // 1.1 and any later 1.x keep the connection by default
      state_ = State::version_end;
      return true;
    }
    case State::version_end:
      if (c != '\n') return false;
      state_ = State::headers;
      return true;
    case State::headers:
    case State::body:
    case State::closed: break;
  }
  return false;
}

bool HttpServerCodec::end_head(ByteBuffer& out) {
  // A chunked body would have to be parsed to be skipped; this server never needs one.
  if (headers_.has_transfer_encoding()) return refuse(kHttpBadRequest, out);
  const bool keep_alive = !headers_.connection_close() && (!http10_ || headers_.connection_keep_alive());
  close_requested_ = !keep_alive;
  body_left_ = headers_.content_length();
  if (body_left_ == 0) return answer(out);
  state_ = State::body;
  return true;
}

// The request is complete: answered, counted, and the next one may start.
bool HttpServerCodec::answer(ByteBuffer& out) {
  std::string_view response = close_requested_ ? kHttpOkClose : http10_ ? kHttpOkKeepAlive : kHttpOk;
  if (head_method_) response.remove_suffix(kHttpBody.size());
  out.append(response);
  ++requests_;
  if (close_requested_) {
    state_ = State::closed;
    return false;
  }
  next_request();
  return true;
}

bool HttpServerCodec::refuse(std::string_view response, ByteBuffer& out) {
  out.append(response);
  close_requested_ = false;
  state_ = State::closed;
  return false;
}

void HttpServerCodec::next_request() {
  state_ = State::method;
  head_size_ = 0;
  token_size_ = 0;
  head_method_ = false;
  http10_ = false;
  headers_.reset();
}

}  // namespace mux
