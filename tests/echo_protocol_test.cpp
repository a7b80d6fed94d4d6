#include "core/echo_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mux {
namespace {

std::string frame(const EchoRequests& r, std::uint64_t seq) {
  iovec iov[2];
  const int n = r.iov(seq, 0, iov);
  std::string s;
  for (int i = 0; i < n; ++i) s.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

std::string to_string(const ByteBuffer& b) { return {b.readable().data(), b.readable().size()}; }

TEST(EchoRequests, FrameIsLengthPrefixedPayload) {
  EchoRequests r(300);
  const std::string f = frame(r, 5);
  ASSERT_EQ(f.size(), 304u);
  EXPECT_EQ(static_cast<unsigned char>(f[2]), 1u);  // 300 = 0x012C, big-endian
  EXPECT_EQ(static_cast<unsigned char>(f[3]), 0x2Cu);
  EXPECT_TRUE(r.matches(5, 0, f));
  EXPECT_NE(frame(r, 5), frame(r, 6)) << "consecutive requests must differ so a stale echo is caught";
}

TEST(EchoRequests, MatchesAnySplitAndCatchesOneWrongByte) {
  EchoRequests r(64);
  std::string f = frame(r, 9);
  for (std::size_t cut = 0; cut <= f.size(); ++cut) {
    EXPECT_TRUE(r.matches(9, 0, std::string_view(f).substr(0, cut)));
    EXPECT_TRUE(r.matches(9, cut, std::string_view(f).substr(cut)));
  }
  for (std::size_t i = 0; i < f.size(); ++i) {
    std::string bad = f;
    bad[i] ^= 1;
    EXPECT_FALSE(r.matches(9, 0, bad)) << "flipped byte " << i;
  }
  EXPECT_FALSE(r.matches(10, 0, f)) << "the reply to another request";
}

TEST(EchoRequests, IovFromEveryOffsetCoversTheRest) {
  EchoRequests r(10);
  const std::string f = frame(r, 1);
  for (std::size_t pos = 0; pos < f.size(); ++pos) {
    iovec iov[2];
    const int n = r.iov(1, pos, iov);
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

TEST(ServerCodecFactory, KnowsEchoOnly) {
  ASSERT_NE(server_codec_factory("echo"), nullptr);
  EXPECT_EQ(server_codec_factory("gopher"), nullptr);
}

}  // namespace
}  // namespace mux
