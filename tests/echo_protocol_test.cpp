#include "core/echo_protocol.hpp"

#include <gtest/gtest.h>

#include "tests/byte_buffer_text.hpp"

#include <set>
#include <string>
#include <vector>

namespace mux {
namespace {

std::string frame(const EchoRequests& r, std::uint64_t seq, std::uint64_t connection = 0) {
  iovec iov[2];
  const int n = r.iov(connection, seq, 0, iov);
  std::string s;
  for (int i = 0; i < n; ++i) s.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}


TEST(EchoRequests, FrameIsLengthPrefixedPayload) {
  EchoRequests r(300);
  const std::string f = frame(r, 5);
  ASSERT_EQ(f.size(), 304u);
  EXPECT_EQ(static_cast<unsigned char>(f[2]), 1u);  // 300 = 0x012C, big-endian
  EXPECT_EQ(static_cast<unsigned char>(f[3]), 0x2Cu);
  EXPECT_TRUE(r.matches(0, 5, 0, f));
  EXPECT_NE(frame(r, 5), frame(r, 6)) << "consecutive requests must differ so a stale echo is caught";
}

// The streams of first few requests: what a server that mixes up two connections would send
// back to each. Compared as bytes on the wire, whatever the pattern code does inside.
std::string stream(const EchoRequests& r, std::uint64_t connection, std::uint64_t requests) {
  std::string s;
  for (std::uint64_t seq = 0; seq < requests; ++seq) s += frame(r, seq, connection);
  return s;
}

TEST(EchoRequests, EveryConnectionSendsItsOwnStream) {
  // 251 and 7919 were the period and the stride of the old scheme, under which connections c
  // and c + 251 sent identical streams; 65521 is the new number of payload offsets.
  for (const std::size_t size : {1, 16, 128}) {
    EchoRequests r(size);
    const std::uint64_t requests = size == 1 ? 16 : 4;  // 1-byte payloads differ with p = 255/256 each
    for (std::uint64_t c = 0; c < 1000; ++c)
      for (const std::uint64_t apart : {1, 2, 251, 502, 7919, 65521, 1'000'000})
        ASSERT_NE(stream(r, c, requests), stream(r, c + apart, requests))
            << size << "-byte messages: connections " << c << " and " << c + apart << " send the same bytes";
  }
}

TEST(EchoRequests, PayloadsSpreadOverTheWholePattern) {
  EchoRequests r(8);
  std::set<std::string> payloads;
  for (std::uint64_t c = 0; c < 1000; ++c)
    for (std::uint64_t seq = 0; seq < 100; ++seq) payloads.insert(frame(r, seq, c).substr(kEchoHeaderSize));
  // 100,000 draws from 65,521 places leave about 65,521 * (1 - e^(-100000/65521)) = 51,300 distinct.
  EXPECT_GT(payloads.size(), 45'000u);
  std::size_t repeats = 0;  // a connection sending the same payload twice in a row: chance 1/65521
  for (std::uint64_t seq = 0; seq < 10'000; ++seq) repeats += frame(r, seq, 3) == frame(r, seq + 1, 3);
  EXPECT_LE(repeats, 3u);
}

TEST(EchoRequests, MatchesAnySplitAndCatchesOneWrongByte) {
  EchoRequests r(64);
  std::string f = frame(r, 9);
  for (std::size_t cut = 0; cut <= f.size(); ++cut) {
    EXPECT_TRUE(r.matches(0, 9, 0, std::string_view(f).substr(0, cut)));
    EXPECT_TRUE(r.matches(0, 9, cut, std::string_view(f).substr(cut)));
  }
  for (std::size_t i = 0; i < f.size(); ++i) {
    std::string bad = f;
    bad[i] ^= 1;
    EXPECT_FALSE(r.matches(0, 9, 0, bad)) << "flipped byte " << i;
  }
  EXPECT_FALSE(r.matches(0, 10, 0, f)) << "the reply to another request";
  EXPECT_FALSE(r.matches(1, 9, 0, f)) << "the reply to another connection's request";
}

TEST(EchoRequests, IovFromEveryOffsetCoversTheRest) {
  EchoRequests r(10);
  const std::string f = frame(r, 1);
  for (std::size_t pos = 0; pos < f.size(); ++pos) {
    iovec iov[2];
    const int n = r.iov(0, 1, pos, iov);
    std::string rest;
    for (int i = 0; i < n; ++i) rest.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    EXPECT_EQ(rest, f.substr(pos));
  }
}

TEST(EchoServerCodec, OneByteReadsGiveTheSameOutputAsOneBigRead) {
  EchoRequests r(200);
  std::string input;
  for (std::uint64_t s = 0; s < 5; ++s) input += frame(r, s);
  EchoServerCodec whole, bytewise;
  ByteBuffer out_whole, out_bytes;
  ASSERT_TRUE(whole.on_bytes(input, out_whole));
  for (char c : input) ASSERT_TRUE(bytewise.on_bytes({&c, 1}, out_bytes));
  EXPECT_EQ(to_string(out_whole), input);
  EXPECT_EQ(to_string(out_bytes), input);
  EXPECT_EQ(whole.requests(), 5u);
  EXPECT_EQ(bytewise.requests(), 5u);
}

TEST(EchoServerCodec, CountsOnlyCompleteMessages) {
  EchoRequests r(100);
  const std::string f = frame(r, 0);
  EchoServerCodec codec;
  ByteBuffer out;
  ASSERT_TRUE(codec.on_bytes(std::string_view(f).substr(0, 50), out));
  EXPECT_EQ(codec.requests(), 0u);
  ASSERT_TRUE(codec.on_bytes(std::string_view(f).substr(50), out));
  EXPECT_EQ(codec.requests(), 1u);
}

TEST(EchoServerCodec, EmptyMessageAndMaximumMessage) {
  EchoServerCodec codec;
  ByteBuffer out;
  const std::string empty("\0\0\0\0", 4);
  ASSERT_TRUE(codec.on_bytes(empty, out));
  EXPECT_EQ(codec.requests(), 1u);
  EchoRequests big(kMaxMessageSize);
  const std::string f = frame(big, 3);
  ASSERT_TRUE(codec.on_bytes(f, out));
  EXPECT_EQ(codec.requests(), 2u);
  EXPECT_EQ(out.size(), 4 + f.size());
}

TEST(EchoServerCodec, RefusesOversizedMessageWithoutEchoingIt) {
  EchoServerCodec codec;
  ByteBuffer out;
  const std::uint32_t n = kMaxMessageSize + 1;
  const char header[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                          static_cast<char>(n)};
  EXPECT_FALSE(codec.on_bytes({header, 4}, out));
  EXPECT_TRUE(codec.broke_protocol());
  EXPECT_TRUE(out.empty());
}

TEST(EchoClientCodec, ChecksRepliesAgainstItsOwnConnectionsRequests) {
  const auto protocol = make_client_protocol("echo", {.message_size = 32, .expected_body = std::nullopt});
  ASSERT_NE(protocol, nullptr);
  auto mine = protocol->make_codec(5), other = protocol->make_codec(5 + 251);
  const auto bytes = [](const ClientCodec& codec, std::uint64_t seq) {
    iovec iov[2];
    const int n = codec.request_iov(seq, 0, iov);
    std::string s;
    for (int i = 0; i < n; ++i) s.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    return s;
  };
  EXPECT_EQ(mine->on_reply(0, bytes(*mine, 0)).state, ClientCodec::State::complete);
  EXPECT_EQ(mine->on_reply(1, bytes(*other, 1)).state, ClientCodec::State::invalid)
      << "connection 5 accepted the echo meant for connection 256";
}

TEST(ServerCodecFactory, KnowsTheRegisteredProtocolsOnly) {
  for (const char* name : {"echo", "http", "raw"}) EXPECT_NE(server_codec_factory(name), nullptr) << name;
  EXPECT_EQ(server_codec_factory("gopher"), nullptr);
  EXPECT_EQ(make_client_protocol("gopher", {}), nullptr);
}

}  // namespace
}  // namespace mux
