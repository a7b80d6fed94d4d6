#pragma once
// The http protocol: HTTP/1.1 with keep-alive and pipelining, the "hello world" of web
// servers. Every request gets the same small fixed response, so what is measured is the I/O
// model and the parsing, never the application. Both parsers are incremental and keep O(1)
// state: a message may be split anywhere, and nothing is buffered or allocated per request.
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/protocol.hpp"

namespace mux {

// Longest request head (request line plus headers) the server accepts; the client holds a
// response head to the same limit. Longer: 431 on the server, invalid on the client.
inline constexpr std::size_t kHttpMaxHeadSize = 8 * 1024;

inline constexpr std::string_view kHttpBody = "Hello, World!";
// The response to a keep-alive HTTP/1.1 request: the common case, the one measured.
inline constexpr std::string_view kHttpOk =
    "HTTP/1.1 200 OK\r\nServer: muxbench\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
    "Hello, World!";
// The last response on a connection the server is about to close (Connection: close, or an
// HTTP/1.0 request without keep-alive): RFC 9112 asks the server to say so.
inline constexpr std::string_view kHttpOkClose =
    "HTTP/1.1 200 OK\r\nServer: muxbench\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "Connection: close\r\n\r\nHello, World!";
// An HTTP/1.0 client keeps the connection only if the response confirms keep-alive.
inline constexpr std::string_view kHttpOkKeepAlive =
    "HTTP/1.1 200 OK\r\nServer: muxbench\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "Connection: keep-alive\r\n\r\nHello, World!";
inline constexpr std::string_view kHttpBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
inline constexpr std::string_view kHttpHeadTooLarge =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

// What the load generator sends, every time.
inline constexpr std::string_view kHttpRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// The header section shared by requests and responses: "name: value" lines up to an empty
// line, fed one byte at a time with CR already checked and dropped (see the codecs). Only the
// fields that frame a message are kept; every other header is checked and forgotten.
class HttpHeaderParser {
 public:
  enum class Result { more, done, bad };
  Result feed(char c);
  void reset() { *this = HttpHeaderParser(); }

  bool has_content_length() const { return has_content_length_; }
  std::uint64_t content_length() const { return content_length_; }
  bool connection_close() const { return close_; }
  bool connection_keep_alive() const { return keep_alive_; }
  bool has_transfer_encoding() const { return has_transfer_encoding_; }
  // Whether the last transfer coding named was "chunked": how such a body is framed.
  bool chunked() const { return chunked_; }

 private:
  enum class State { line_start, name, value_start, value };
  enum class Field { other, content_length, connection, transfer_encoding };

  Result start_line(char c);
  Result name_byte(char c);
  Result value_byte(char c);
  Result end_value();
  void end_word();
  bool content_length_digit(char c);

  State state_ = State::line_start;
  Field field_ = Field::other;
  // The current header name or list word, lowercased; longer ones cannot be interesting.
  std::array<char, 20> word_{};
  std::size_t word_size_ = 0;
  bool word_too_long_ = false;
  // Content-Length being read: digits so far, and whether white space ended them.
  std::uint64_t number_ = 0;
  bool has_digits_ = false;
  bool digits_ended_ = false;

  bool has_content_length_ = false;
  std::uint64_t content_length_ = 0;
  bool close_ = false;
  bool keep_alive_ = false;
  bool has_transfer_encoding_ = false;
  bool chunked_ = false;
};

// Server side. Answers every complete request, in order, with kHttpOk (HEAD: its head only).
// Any method is answered alike; a request body (Content-Length) is skipped, never stored.
//
// on_bytes() returns false in two cases, since ServerCodec has no other way to ask for a close:
//  - the request was malformed (400) or its head too long (431): the error response is
//    appended, and requests() does not count it;
//  - the request asked for the connection to close (Connection: close, or HTTP/1.0 without
//    keep-alive): it is answered with kHttpOkClose and counted in requests() as a normal
//    request; close_requested() tells this case apart from a violation.
// Either way the bytes after that request are ignored and the codec must not be fed again
// (if it is, it returns false and writes nothing).
//
// Limits, on purpose: Transfer-Encoding (chunked request bodies) gets 400; Host is not
// required; an absolute-form target is taken as any other; obs-fold header lines get 400.
class HttpServerCodec final : public ServerCodec {
 public:
  bool on_bytes(std::span<const char> in, ByteBuffer& out) override;
  std::uint64_t requests() const override { return requests_; }
  bool close_requested() const { return state_ == State::closed && close_requested_; }
  bool broke_protocol() const override { return state_ == State::closed && !close_requested_; }

 private:
  enum class State { method, target, version, version_end, headers, body, closed };

  bool head_byte(char c, ByteBuffer& out);
  bool start_line_byte(char c);
  bool end_head(ByteBuffer& out);
  bool answer(ByteBuffer& out);
  bool refuse(std::string_view response, ByteBuffer& out);
  void next_request();

  State state_ = State::method;
  bool cr_ = false;             // the previous byte was a CR: only LF may follow
  std::size_t head_size_ = 0;   // bytes of the current request head so far
  std::size_t token_size_ = 0;  // of the method, target or version being read
  bool head_method_ = false;    // the method so far is a prefix of "HEAD"
  bool http10_ = false;
  HttpHeaderParser headers_;
  std::uint64_t body_left_ = 0;
  bool close_requested_ = false;
  std::uint64_t requests_ = 0;
};

// Client side, for the load generator; also run against other servers (nginx), so by default
// it accepts any well-formed "HTTP/1.x 200" response, whatever its headers and body: the body's
// length is checked against its framing, its bytes are not. Given the body to expect (our own
// server's kHttpBody, or --expect-body), it also compares every body byte and the body's
// length with it. The body is framed by Content-Length or by chunked transfer coding (chunk
// extensions and trailers are skipped); with neither, or both, the reply is invalid, as is any
// other status (a 1xx included: requests never ask for one). A "Connection: close" reply is
// complete like any other; the load generator then sees the close as a reset. The request
// sequence number plays no part: all requests are the same, and so are all expected replies.
class HttpClientCodec final : public ClientCodec {
 public:
  // `expected_body` (when given) must outlive the codec.
  explicit HttpClientCodec(std::optional<std::string_view> expected_body = std::nullopt)
      : expected_body_(expected_body) {}
  std::size_t request_size(std::uint64_t) const override { return kHttpRequest.size(); }
  int request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const override;
  Progress on_reply(std::uint64_t seq, std::span<const char> bytes) override;
  void reset() override { *this = HttpClientCodec(expected_body_); }

 private:
  enum class State {
    status, reason, headers, body,                         // the head, then a Content-Length body
    chunk_size, chunk_ext, chunk_data, chunk_end, trailers,  // or a chunked one
    done, invalid
  };

  State line_byte(char c);
  State status_byte(char c);
  State end_headers();
  State chunk_size_byte(char c);
  State end_chunk_line();
  bool body_bytes_expected(std::span<const char> bytes) const;

  std::optional<std::string_view> expected_body_;
  State state_ = State::status;
  bool cr_ = false;            // the previous byte was a CR: only LF may follow
  std::size_t line_size_ = 0;  // bytes of head, chunk line or trailers since the last data
  std::size_t token_size_ = 0; // of the status line or chunk size so far
  std::uint64_t left_ = 0;     // bytes of body or chunk still to come
  std::uint64_t body_seen_ = 0;  // body bytes so far, over all chunks
  HttpHeaderParser headers_;   // the response headers, then the trailers
};

// message_size is ignored: the request is fixed, and so is the response when a body is expected.
class HttpClientProtocol final : public ClientProtocol {
 public:
  explicit HttpClientProtocol(const ClientProtocolOptions& options) : expected_body_(options.expected_body) {}
  std::unique_ptr<ClientCodec> make_codec(std::uint64_t) const override {
    return std::make_unique<HttpClientCodec>(expected_body_ ? std::optional<std::string_view>(*expected_body_)
                                                            : std::nullopt);
  }

 private:
  std::optional<std::string> expected_body_;
};

}  // namespace mux
