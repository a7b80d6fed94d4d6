#include "core/http_protocol.hpp"

#include <gtest/gtest.h>

#include "tests/byte_buffer_text.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace mux {
namespace {

using namespace std::string_literals;
using State = ClientCodec::State;


std::string repeat(std::string_view s, int n) {
  std::string r;
  for (int i = 0; i < n; ++i) r += s;
  return r;
}

std::string head_response(std::string_view response) {
  return std::string(response.substr(0, response.size() - kHttpBody.size()));
}

// What a server codec makes of some input, fed in the given pieces.
struct Served {
  std::string out;
  bool ok = true;
  std::uint64_t requests = 0;
  bool operator==(const Served&) const = default;
};

Served serve(const std::vector<std::string_view>& pieces) {
  HttpServerCodec codec;
  Served s;
  ByteBuffer out;
  for (const auto piece : pieces) {
    s.ok = codec.on_bytes(piece, out);
    if (!s.ok) break;  // the backend closes: nothing more is fed
  }
  s.out = to_string(out);
  s.requests = codec.requests();
  return s;
}

Served serve(std::string_view input) { return serve(std::vector{input}); }

void PrintTo(const Served& s, std::ostream* os) {
  *os << "{ok=" << s.ok << " requests=" << s.requests << " out=" << testing::PrintToString(s.out) << "}";
}

// --- Server -----------------------------------------------------------------------------

TEST(HttpServerCodec, AnswersOneGet) {
  const Served s = serve("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\n\r\n");
  EXPECT_EQ(s, (Served{std::string(kHttpOk), true, 1}));
}

TEST(HttpServerCodec, EverySplitGivesTheSameOutputAsOneRead) {
  const std::vector<std::string> inputs = {
      std::string(kHttpRequest),
      "GET /plaintext HTTP/1.1\r\nHost: server\r\nAccept: text/plain,text/html;q=0.9\r\n"
      "Connection: keep-alive\r\n\r\n",
      "HEAD /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "POST /form HTTP/1.1\r\nContent-Length: 5\r\n\r\nab\r\ncGET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.1\nHost: bare-lf\n\n",
      "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\rb\r\n\r\n",  // 200 then 400
  };
  for (const auto& input : inputs) {
    const Served whole = serve(input);
    EXPECT_GE(whole.requests, 1u) << input;
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      const std::string_view in(input);
      EXPECT_EQ(serve({in.substr(0, cut), in.substr(cut)}), whole) << "cut at " << cut << " of " << input;
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(std::string_view(input).substr(i, 1));
    EXPECT_EQ(serve(bytes), whole) << "byte by byte: " << input;
  }
}

TEST(HttpServerCodec, AnswersPipelinedRequestsInOrder) {
  const Served s = serve(repeat(kHttpRequest, 3));
  EXPECT_EQ(s, (Served{repeat(kHttpOk, 3), true, 3}));
}

TEST(HttpServerCodec, CountsOnlyCompleteRequests) {
  HttpServerCodec codec;
  ByteBuffer out;
  const std::string_view req = kHttpRequest;
  ASSERT_TRUE(codec.on_bytes(req.substr(0, req.size() - 1), out));
  EXPECT_EQ(codec.requests(), 0u);
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(codec.on_bytes(req.substr(req.size() - 1), out));
  EXPECT_EQ(codec.requests(), 1u);
  EXPECT_EQ(to_string(out), kHttpOk);
}

TEST(HttpServerCodec, HeadGetsTheHeadersWithoutTheBody) {
  const Served s = serve("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(s, (Served{head_response(kHttpOk) + std::string(kHttpOk), true, 2}));
  EXPECT_NE(head_response(kHttpOk).find("Content-Length: 13\r\n"), std::string::npos);
  // Only HEAD itself: longer or shorter methods that share its letters get a body.
  EXPECT_EQ(serve("HEADS / HTTP/1.1\r\n\r\nHEA / HTTP/1.1\r\n\r\n").out, repeat(kHttpOk, 2));
}

TEST(HttpServerCodec, SkipsARequestBodyExactly) {
  // The body looks like a request: it must be skipped, not answered.
  const std::string body = "GET / HTTP/1.1\r\n\r\n";
  const std::string input = "POST /submit HTTP/1.1\r\nContent-Type: text/plain\r\ncontent-length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body + std::string(kHttpRequest);
  EXPECT_EQ(serve(input), (Served{repeat(kHttpOk, 2), true, 2}));
}

TEST(HttpServerCodec, SkipsALargeBodyWithoutStoringIt) {
  const std::string body(1 << 20, 'x');
  HttpServerCodec codec;
  ByteBuffer out;
  ASSERT_TRUE(codec.on_bytes("PUT / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n"s, out));
  for (std::size_t at = 0; at < body.size(); at += 4096)
    ASSERT_TRUE(codec.on_bytes(std::string_view(body).substr(at, 4096), out));
  EXPECT_EQ(codec.requests(), 1u);
  EXPECT_EQ(to_string(out), kHttpOk);
}

TEST(HttpServerCodec, AgreeingDuplicateContentLengthsAreOneLength) {
  EXPECT_EQ(serve("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length:2 \r\n\r\nabGET / HTTP/1.1\r\n\r\n"),
            (Served{repeat(kHttpOk, 2), true, 2}));
}

TEST(HttpServerCodec, RefusesMalformedRequestsWith400) {
  const std::vector<std::string> bad = {
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello
      "hello\r\n",
      " GET / HTTP/1.1\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET /\r\n",  // HTTP/0.9
      "GET / HTTP/2.0\r\n\r\n",
      "GET / http/1.1\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET / HTTP/1.1\r\r\n\r\n",
      "GET /a\rb HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "G\0T / HTTP/1.1\r\n\r\n"s,
  };
  for (const auto& input : bad) {
    const Served s = serve(input);
    EXPECT_EQ(s, (Served{std::string(kHttpBadRequest), false, 0})) << testing::PrintToString(input);
  }
}

TEST(HttpServerCodec, AnswersWhatCameBeforeGarbage) {
  EXPECT_EQ(serve(std::string(kHttpRequest) + "garbage\r\n\r\n"),
            (Served{std::string(kHttpOk) + std::string(kHttpBadRequest), false, 1}));
}

TEST(HttpServerCodec, RefusesAnOversizedHeadWith431) {
  const std::string big = "GET / HTTP/1.1\r\nCookie: " + std::string(9 * 1024, 'a') + "\r\n\r\n";
  EXPECT_EQ(serve(big), (Served{std::string(kHttpHeadTooLarge), false, 0}));
  // Refused as soon as the limit is passed, without waiting for the end of the head.
  EXPECT_EQ(serve(std::string_view(big).substr(0, kHttpMaxHeadSize + 1)),
            (Served{std::string(kHttpHeadTooLarge), false, 0}));
  EXPECT_EQ(serve(std::string(kHttpMaxHeadSize + 1, '\n')), (Served{std::string(kHttpHeadTooLarge), false, 0}));
}

TEST(HttpServerCodec, AcceptsAHeadOfExactlyTheLimit) {
  const std::string start = "GET / HTTP/1.1\r\nX: ";
  const std::string head = start + std::string(kHttpMaxHeadSize - start.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(head.size(), kHttpMaxHeadSize);
  EXPECT_EQ(serve(repeat(head, 2)), (Served{repeat(kHttpOk, 2), true, 2})) << "the limit is per request";
}

TEST(HttpServerCodec, ConnectionCloseIsAnsweredThenCloses) {
  HttpServerCodec codec;
  ByteBuffer out;
  EXPECT_FALSE(codec.on_bytes("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"s, out));
  EXPECT_EQ(to_string(out), kHttpOkClose) << "answered; what follows is ignored";
  EXPECT_EQ(codec.requests(), 1u) << "a normal request";
  EXPECT_TRUE(codec.close_requested()) << "not a protocol violation";
  EXPECT_FALSE(codec.broke_protocol());
  EXPECT_FALSE(codec.on_bytes(std::string_view(kHttpRequest), out)) << "closed for good";
  EXPECT_EQ(to_string(out), kHttpOkClose);
}

TEST(HttpServerCodec, ConnectionOptionsAreCaseInsensitiveLists) {
  EXPECT_EQ(serve("GET / HTTP/1.1\r\nconnection: Upgrade,  CLOSE\r\n\r\n").out, kHttpOkClose);
  EXPECT_EQ(serve("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n"),
            (Served{std::string(kHttpOk), true, 1}));
  EXPECT_EQ(serve("HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n").out, head_response(kHttpOkClose));
}

TEST(HttpServerCodec, Http10ClosesUnlessKeepAlive) {
  HttpServerCodec codec;
  ByteBuffer out;
  EXPECT_FALSE(codec.on_bytes("GET / HTTP/1.0\r\n\r\n"s, out));
  EXPECT_EQ(to_string(out), kHttpOkClose);
  EXPECT_TRUE(codec.close_requested());
  EXPECT_EQ(serve("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
            (Served{std::string(kHttpOkKeepAlive) + std::string(kHttpOkClose), false, 2}));
}

TEST(HttpServerCodec, ViolationIsNotACloseRequest) {
  HttpServerCodec codec;
  ByteBuffer out;
  EXPECT_FALSE(codec.on_bytes("nonsense\r\n"s, out));
  EXPECT_FALSE(codec.close_requested());
  EXPECT_FALSE(codec.on_bytes(std::string_view(kHttpRequest), out));
  EXPECT_EQ(to_string(out), kHttpBadRequest) << "nothing written after the refusal";
}

TEST(HttpServerCodec, ToleratesBareLfAndLeadingBlankLines) {
  EXPECT_EQ(serve("GET / HTTP/1.1\nHost: a\n\n\r\n\nGET / HTTP/1.1\r\nHost: a\n\r\n"),
            (Served{repeat(kHttpOk, 2), true, 2}));
}

TEST(HttpProtocol, ServerOutputRoundTripsThroughTheClient) {
  auto protocol = make_client_protocol("http", {.message_size = 128, .expected_body = std::string(kHttpBody)});
  ASSERT_NE(protocol, nullptr);
  auto client = protocol->make_codec(3);
  std::string requests;
  for (std::uint64_t seq = 0; seq < 5; ++seq) {
    iovec iov[2];
    const int n = client->request_iov(seq, 0, iov);
    for (int i = 0; i < n; ++i) requests.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  }
  const auto server = server_codec_factory("http")();
  ByteBuffer out;
  ASSERT_TRUE(server->on_bytes(requests, out));
  EXPECT_EQ(server->requests(), 5u);
  std::span<const char> replies = out.readable();
  for (std::uint64_t seq = 0; seq < 5; ++seq) {
    const auto p = client->on_reply(seq, replies);
    ASSERT_EQ(p.state, State::complete) << seq;
    replies = replies.subspan(p.consumed);
  }
  EXPECT_TRUE(replies.empty());
}

TEST(HttpProtocol, IsRegistered) {
  const auto names = protocol_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "http"), names.end());
  EXPECT_NE(server_codec_factory("http"), nullptr);
}

TEST(HttpServerCodec, ViolationsAreToldApartFromRequestedCloses) {
  HttpServerCodec garbage;
  ByteBuffer out;
  EXPECT_FALSE(garbage.on_bytes(std::string_view("hello\r\n"), out));
  EXPECT_TRUE(garbage.broke_protocol());
  HttpServerCodec polite;
  EXPECT_FALSE(polite.on_bytes(std::string_view("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), out));
  EXPECT_FALSE(polite.broke_protocol());
}

}  // namespace
}  // namespace mux
