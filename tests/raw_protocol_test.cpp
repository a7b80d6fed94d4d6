#include "core/raw_protocol.hpp"

#include <gtest/gtest.h>

#include "tests/byte_buffer_text.hpp"

#include <string>
#include <string_view>

namespace mux {
namespace {

using State = ClientCodec::State;

std::string request(const ClientCodec& codec, std::uint64_t seq, std::size_t pos = 0) {
  iovec iov[2];
  const int n = codec.request_iov(seq, pos, iov);
  std::string s;
  for (int i = 0; i < n; ++i) s.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

std::unique_ptr<ClientProtocol> raw_protocol(std::size_t message_size) {
  return make_client_protocol("raw", {.message_size = static_cast<double>(message_size), .expected_body = std::nullopt});
}


TEST(RawServerCodec, EchoesEveryByteHoweverTheInputIsSplit) {
  std::string input;
  for (int i = 0; i < 3000; ++i) input += static_cast<char>(i * 7 + i / 256);  // every byte value, no framing
  for (const std::size_t piece : {1, 2, 7, 1000, 3000}) {
    RawServerCodec codec;
    ByteBuffer out;
    for (std::size_t at = 0; at < input.size(); at += piece)
      ASSERT_TRUE(codec.on_bytes(std::string_view(input).substr(at, piece), out));
    EXPECT_EQ(to_string(out), input) << "pieces of " << piece;
    EXPECT_FALSE(codec.broke_protocol());
  }
}

TEST(RawProtocol, TheServerSaysItCannotCountRequests) {
  EXPECT_FALSE(protocol_counts_requests("raw"));
  EXPECT_TRUE(protocol_counts_requests("echo"));
  EXPECT_TRUE(protocol_counts_requests("http"));
  EXPECT_FALSE(protocol_counts_requests("gopher"));
  EXPECT_NE(protocol_help().find("raw: "), std::string::npos) << protocol_help();
}

TEST(RawClientCodec, RequestIsMessageSizeBytesFromAnyPosition) {
  const auto protocol = raw_protocol(100);
  ASSERT_NE(protocol, nullptr);
  const auto codec = protocol->make_codec(0);
  ASSERT_EQ(codec->request_size(3), 100u);
  const std::string whole = request(*codec, 3);
  ASSERT_EQ(whole.size(), 100u);
  for (std::size_t pos = 0; pos <= whole.size(); ++pos) EXPECT_EQ(request(*codec, 3, pos), whole.substr(pos));
  EXPECT_NE(request(*codec, 4), whole) << "consecutive requests differ";
  EXPECT_NE(request(*protocol->make_codec(251), 3), whole) << "so do those of two connections";
}

// Feeds one read to the codec as the load generator does: reply after reply, in order.
// Returns the number of replies completed; `seq` is the reply being received.
int feed_read(ClientCodec& codec, std::uint64_t& seq, std::string_view read) {
  int complete = 0;
  while (!read.empty()) {
    const auto p = codec.on_reply(seq, read);
    if (p.state == State::invalid) return -1;
    read.remove_prefix(p.consumed);
    if (p.state == State::incomplete) break;
    ++seq;
    ++complete;
  }
  EXPECT_TRUE(read.empty()) << "an incomplete reply consumes all it is given";
  return complete;
}

TEST(RawClientCodec, RepliesSplitAnywhereAreComplete) {
  const auto protocol = raw_protocol(64);
  auto codec = protocol->make_codec(9);
  const std::string two = request(*codec, 0) + request(*codec, 1);
  for (std::size_t cut = 0; cut <= two.size(); ++cut) {
    codec->reset();
    std::uint64_t seq = 0;
    const int first = feed_read(*codec, seq, std::string_view(two).substr(0, cut));
    const int second = feed_read(*codec, seq, std::string_view(two).substr(cut));
    EXPECT_EQ(first, cut < 64 ? 0 : cut < 128 ? 1 : 2) << "cut at " << cut;
    EXPECT_EQ(first + second, 2) << "cut at " << cut;
  }
}

TEST(RawClientCodec, CatchesOneWrongByteAndAnotherConnectionsReply) {
  const auto protocol = raw_protocol(50);
  auto codec = protocol->make_codec(1);
  const std::string reply = request(*codec, 6);
  for (std::size_t i = 0; i < reply.size(); ++i) {
    std::string bad = reply;
    bad[i] ^= 0x20;
    codec->reset();
    EXPECT_EQ(codec->on_reply(6, bad).state, State::invalid) << "flipped byte " << i;
  }
  codec->reset();
  EXPECT_EQ(codec->on_reply(6, request(*protocol->make_codec(1 + 251), 6)).state, State::invalid);
  codec->reset();
  EXPECT_EQ(codec->on_reply(7, reply).state, State::invalid) << "a stale reply";
}

TEST(RawProtocol, ClientAndServerRoundTripPipelined) {
  const auto protocol = raw_protocol(33);
  auto client = protocol->make_codec(2);
  std::string sent;
  for (std::uint64_t seq = 0; seq < 5; ++seq) sent += request(*client, seq);
  const auto server = server_codec_factory("raw")();
  ByteBuffer out;
  ASSERT_TRUE(server->on_bytes(sent, out));
  std::span<const char> replies = out.readable();
  for (std::uint64_t seq = 0; seq < 5; ++seq) {
    const auto p = client->on_reply(seq, replies);
    ASSERT_EQ(p.state, State::complete) << seq;
    replies = replies.subspan(p.consumed);
  }
  EXPECT_TRUE(replies.empty());
}

}  // namespace
}  // namespace mux
