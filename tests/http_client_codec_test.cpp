// HttpClientCodec, the load generator's side of HTTP mode: replies split at every byte,
// chunked bodies, malformed replies, and the body compared when one is expected. (The server
// side and the round trip between the two are in http_protocol_test.cpp.)
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/http_protocol.hpp"

namespace mux {
namespace {

using namespace std::string_literals;
using State = ClientCodec::State;

constexpr std::string_view kNginxReply =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 03 Jun 2024 10:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, world!";

// Feeds `reply` to a fresh codec in two pieces; returns the total consumed and the last state.
ClientCodec::Progress feed(std::string_view reply, std::size_t cut) {
  HttpClientCodec codec;
  const auto first = codec.on_reply(0, reply.substr(0, cut));
  if (first.state != State::incomplete) return first;
  EXPECT_EQ(first.consumed, cut) << "an incomplete reply consumes all it is given";
  const auto second = codec.on_reply(0, reply.substr(cut));
  return {first.consumed + second.consumed, second.state};
}

TEST(HttpClientCodec, RequestIsTheFixedGet) {
  HttpClientCodec codec;
  ASSERT_EQ(codec.request_size(7), kHttpRequest.size());
  for (std::size_t pos = 0; pos < kHttpRequest.size(); ++pos) {
    iovec iov[2];
    ASSERT_EQ(codec.request_iov(7, pos, iov), 1);
    EXPECT_EQ(std::string_view(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len), kHttpRequest.substr(pos));
  }
}

TEST(HttpClientCodec, ReplySplitAtEveryByteIsComplete) {
  for (const std::string_view reply : {kHttpOk, kHttpOkClose, kHttpOkKeepAlive, kNginxReply}) {
    for (std::size_t cut = 1; cut < reply.size(); ++cut) {
      const auto p = feed(reply, cut);
      EXPECT_EQ(p.state, State::complete) << "cut at " << cut;
      EXPECT_EQ(p.consumed, reply.size()) << "cut at " << cut;
    }
    HttpClientCodec codec;  // byte by byte
    for (std::size_t i = 0; i + 1 < reply.size(); ++i)
      ASSERT_EQ(codec.on_reply(0, reply.substr(i, 1)).state, State::incomplete) << i;
    EXPECT_EQ(codec.on_reply(0, reply.substr(reply.size() - 1)).state, State::complete);
  }
}

TEST(HttpClientCodec, StopsAtTheEndOfTheFirstOfTwoReplies) {
  HttpClientCodec codec;
  const std::string two = std::string(kNginxReply) + std::string(kHttpOk);
  const auto first = codec.on_reply(0, two);
  EXPECT_EQ(first.state, State::complete);
  ASSERT_EQ(first.consumed, kNginxReply.size());
  const auto second = codec.on_reply(1, std::string_view(two).substr(first.consumed));
  EXPECT_EQ(second.state, State::complete);
  EXPECT_EQ(second.consumed, kHttpOk.size());
}

TEST(HttpClientCodec, AcceptsEmptyBodiesHttp10AndNoReason) {
  EXPECT_EQ(feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5).state, State::complete);
  EXPECT_EQ(feed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", 5).state, State::complete);
  EXPECT_EQ(feed("HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nhi", 5).state, State::complete);
  EXPECT_EQ(feed("HTTP/1.1 200 \nCONTENT-LENGTH:  2  \n\nhi", 5).state, State::complete);
}

TEST(HttpClientCodec, ChunkedReplySplitAtEveryByte) {
  const std::string_view reply =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7\r\nHello, \r\n6;ext=\"x\"\r\nWorld!\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
  const std::string two = std::string(reply) + std::string(kHttpOk);
  for (std::size_t cut = 1; cut < two.size(); ++cut) {
    HttpClientCodec codec;
    auto p = codec.on_reply(0, std::string_view(two).substr(0, cut));
    if (p.state == State::incomplete) {
      const auto q = codec.on_reply(0, std::string_view(two).substr(cut));
      p = {p.consumed + q.consumed, q.state};
    }
    EXPECT_EQ(p.state, State::complete) << "cut at " << cut;
    EXPECT_EQ(p.consumed, reply.size()) << "cut at " << cut;
  }
}

TEST(HttpClientCodec, RejectsOtherStatusesAndMalformedReplies) {
  const std::vector<std::string_view> bad = {
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/2 200\r\ncontent-length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\n\r\n",  // no framing
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBroken header\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
      "<html>",
  };
  for (const auto reply : bad) {
    for (std::size_t cut = 1; cut <= reply.size(); ++cut)
      ASSERT_EQ(feed(reply, cut).state, State::invalid) << testing::PrintToString(reply) << " cut at " << cut;
  }
}

TEST(HttpClientCodec, RejectsAnEndlessHead) {
  HttpClientCodec codec;
  ASSERT_EQ(codec.on_reply(0, "HTTP/1.1 200 OK\r\n"s).state, State::incomplete);
  const std::string filler = "X-Filler: " + std::string(1000, 'f') + "\r\n";
  State state = State::incomplete;
  for (int i = 0; i < 20 && state == State::incomplete; ++i) state = codec.on_reply(0, filler).state;
  EXPECT_EQ(state, State::invalid);
}

TEST(HttpClientCodec, ResetForgetsAPartialReply) {
  HttpClientCodec codec;
  ASSERT_EQ(codec.on_reply(0, kHttpOk.substr(0, 30)).state, State::incomplete);
  codec.reset();
  const auto p = codec.on_reply(0, kHttpOk);
  EXPECT_EQ(p.state, State::complete);
  EXPECT_EQ(p.consumed, kHttpOk.size());
}

// --- Client: the body, when one is expected ---------------------------------------------

// Feeds `reply` in two pieces to a codec expecting `body`.
ClientCodec::Progress feed_expecting(std::string_view body, std::string_view reply, std::size_t cut) {
  HttpClientCodec codec(body);
  const auto first = codec.on_reply(0, reply.substr(0, cut));
  if (first.state != State::incomplete) return first;
  const auto second = codec.on_reply(0, reply.substr(cut));
  return {first.consumed + second.consumed, second.state};
}

TEST(HttpClientCodec, WrongBodyOfTheRightLengthIsInvalidOnlyWhenABodyIsExpected) {
  // nginx's "Hello, world!" is as long as ours, "Hello, World!": one byte differs.
  ASSERT_EQ(kNginxReply.size() - kNginxReply.find("\r\n\r\n") - 4, kHttpBody.size());
  for (std::size_t cut = 1; cut <= kNginxReply.size(); ++cut) {
    EXPECT_EQ(feed(kNginxReply, cut).state, State::complete) << "no body expected, cut at " << cut;
    EXPECT_EQ(feed_expecting(kHttpBody, kNginxReply, cut).state, State::invalid) << "cut at " << cut;
    EXPECT_EQ(feed_expecting("Hello, world!", kNginxReply, cut).state, State::complete) << "cut at " << cut;
  }
  for (const std::string_view reply : {kHttpOk, kHttpOkClose, kHttpOkKeepAlive})
    for (std::size_t cut = 1; cut <= reply.size(); ++cut) {
      const auto p = feed_expecting(kHttpBody, reply, cut);
      EXPECT_EQ(p.state, State::complete) << "cut at " << cut;
      EXPECT_EQ(p.consumed, reply.size()) << "cut at " << cut;
    }
}

TEST(HttpClientCodec, ExpectedBodyMustHaveItsLengthWhateverTheFraming) {
  const std::vector<std::string_view> wrong = {
      "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello, World",
      "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!!",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n5\r\nWorld\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n7\r\nWorld!!\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n",
  };
  for (const auto reply : wrong)
    for (std::size_t cut = 1; cut <= reply.size(); ++cut) {
      ASSERT_EQ(feed_expecting(kHttpBody, reply, cut).state, State::invalid) << testing::PrintToString(reply) << cut;
      ASSERT_EQ(feed(reply, cut).state, State::complete) << "no body expected: " << testing::PrintToString(reply);
    }
  const std::string_view chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nHello, \r\n6\r\nWorld!\r\n0\r\n\r\n";
  for (std::size_t cut = 1; cut <= chunked.size(); ++cut)
    EXPECT_EQ(feed_expecting(kHttpBody, chunked, cut).state, State::complete) << "cut at " << cut;
}

TEST(HttpClientCodec, ResetKeepsTheExpectedBody) {
  HttpClientCodec codec(kHttpBody);
  ASSERT_EQ(codec.on_reply(0, kHttpOk.substr(0, 30)).state, State::incomplete);
  codec.reset();
  EXPECT_EQ(codec.on_reply(0, kNginxReply).state, State::invalid);
}

}  // namespace
}  // namespace mux
