// Requests with drawn sizes and drawn server work (core/request_pattern, core/request_work):
// a fixed spec sends what earlier versions sent, drawn sizes frame and verify, and the client
// knows the work the server draws for each request.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/echo_protocol.hpp"
#include "core/raw_protocol.hpp"
#include "core/request_work.hpp"
#include "tests/byte_buffer_text.hpp"

namespace mux {
namespace {

std::string frame(const EchoRequests& r, std::uint64_t connection, std::uint64_t seq) {
  iovec iov[2];
  const int n = r.iov(connection, seq, 0, iov);
  std::string s;
  for (int i = 0; i < n; ++i) s.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

// The request bytes of earlier versions, written out independently: a 4-byte big-endian
// length, then `size` bytes of mt19937_64(0x6d7578)'s output starting at
// splitmix64(splitmix64(c + golden) + seq) % 65521.
std::string earlier_frame(std::size_t size, std::uint64_t connection, std::uint64_t seq) {
  static std::vector<char> pattern;
  if (pattern.size() < size + 65520) {
    pattern.resize(size + 65520);
    std::mt19937_64 rng(0x6d7578);
    for (char& c : pattern) c = static_cast<char>(rng());
  }
  const auto mix = [](std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const std::size_t at = mix(mix(connection + 0x9e3779b97f4a7c15ULL) + seq) % 65521;
  const auto n = static_cast<std::uint32_t>(size);
  std::string f = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
  return f + std::string(pattern.data() + at, size);
}

TEST(DrawnRequests, AFixedSpecSendsTheBytesOfEarlierVersions) {
  // `--message-size=300` as the load threads build it now: a Distribution, seed 1 (the default).
  const EchoRequests now(Distribution::parse("300"), 1);
  for (std::uint64_t c = 0; c < 50; ++c)
    for (std::uint64_t seq = 0; seq < 50; ++seq) ASSERT_EQ(frame(now, c, seq), earlier_frame(300, c, seq)) << c << " " << seq;
  // And another seed sends other bytes, in frames of the same size.
  const EchoRequests seeded(Distribution::parse("300"), 2);
  EXPECT_NE(frame(seeded, 0, 0), earlier_frame(300, 0, 0));
  EXPECT_EQ(frame(seeded, 0, 0).size(), 304u);
}

TEST(DrawnRequests, EachFrameCarriesItsOwnDrawnLengthWithinTheBounds) {
  const EchoRequests r(Distribution::parse("uniform:1-3000"), 9);
  double sum = 0;
  std::size_t lo = 3000, hi = 0;
  constexpr int kRequests = 20'000;
  for (int i = 0; i < kRequests; ++i) {
    const std::uint64_t c = static_cast<std::uint64_t>(i % 100), seq = static_cast<std::uint64_t>(i / 100);
    const std::string f = frame(r, c, seq);
    const auto* h = reinterpret_cast<const unsigned char*>(f.data());
    const std::size_t length = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) | (std::size_t{h[2]} << 8) | h[3];
    ASSERT_EQ(f.size(), kEchoHeaderSize + length);
    ASSERT_EQ(r.frame_size(c, seq), f.size());
    ASSERT_TRUE(r.matches(c, seq, 0, f));
    lo = std::min(lo, length);
    hi = std::max(hi, length);
    sum += static_cast<double>(length);
  }
  EXPECT_GE(lo, 1u);
  EXPECT_LE(hi, 3000u);
  EXPECT_LT(lo, 20u);   // 20,000 draws reach within 1% of each end
  EXPECT_GT(hi, 2980u);
  // Mean (1 + 3000) / 2 = 1500.5; the standard error is 866 / sqrt(20000) = 6.1, so 40 is 6.5 of them.
  EXPECT_NEAR(sum / kRequests, 1500.5, 40);
  // Repeatable: another instance with the same seed draws the same sizes; another seed, others.
  const EchoRequests again(Distribution::parse("uniform:1-3000"), 9), other(Distribution::parse("uniform:1-3000"), 10);
  int same_size = 0;
  for (std::uint64_t seq = 0; seq < 100; ++seq) {
    EXPECT_EQ(frame(again, 4, seq), frame(r, 4, seq));
    same_size += other.frame_size(4, seq) == r.frame_size(4, seq);
  }
  EXPECT_LT(same_size, 10);
}

TEST(DrawnRequests, HeadersOfABatchOfRequestsStayValidTogether) {
  // The load thread asks for up to 16 requests' iovecs, then sends them all in one sendmsg.
  const EchoRequests r(Distribution::parse("uniform:1-50"), 3);
  std::vector<iovec> iovs(2 * EchoRequests::kHeaderSlots);
  std::string expected;
  int n = 0;
  for (std::uint64_t seq = 0; seq < EchoRequests::kHeaderSlots; ++seq) {
    n += r.iov(0, seq, 0, iovs.data() + n);
    expected += frame(EchoRequests(Distribution::parse("uniform:1-50"), 3), 0, seq);
  }
  std::string got;
  for (int i = 0; i < n; ++i) got.append(static_cast<const char*>(iovs[i].iov_base), iovs[i].iov_len);
  EXPECT_EQ(got, expected);
}

TEST(DrawnRequests, AConnectionsHeadersStayValidWhileOthersBuildTheirs) {
  // The io_uring load thread hands the kernel one connection's iovecs (a send in flight), then
  // builds the other connections' requests before that send has read them.
  const auto echo = make_client_protocol("echo", {.message_size = Distribution::parse("uniform:1-50"), .seed = 3,
                                                  .work_us = 0, .expected_body = std::nullopt});
  const auto first = echo->make_codec(0), other = echo->make_codec(1);
  iovec in_flight[2];
  const int n = first->request_iov(0, 0, in_flight);
  for (std::uint64_t seq = 0; seq < 4 * EchoRequests::kHeaderSlots; ++seq) {
    iovec iov[2];
    other->request_iov(seq, 0, iov);
  }
  std::string got;
  for (int i = 0; i < n; ++i) got.append(static_cast<const char*>(in_flight[i].iov_base), in_flight[i].iov_len);
  EXPECT_EQ(got, frame(EchoRequests(Distribution::parse("uniform:1-50"), 3), 0, 0));
}

TEST(DrawnRequests, RawRequestsTakeTheDrawnSizes) {
  const auto raw = make_client_protocol("raw", {.message_size = Distribution::parse("uniform:1-100"), .seed = 5, .work_us = 0, .expected_body = std::nullopt});
  const EchoRequests echo(Distribution::parse("uniform:1-100"), 5);
  const auto codec = raw->make_codec(7);
  for (std::uint64_t seq = 0; seq < 200; ++seq) {
    ASSERT_EQ(codec->request_size(seq) + kEchoHeaderSize, echo.frame_size(7, seq));  // the same draws
    iovec iov[2];
    ASSERT_EQ(codec->request_iov(seq, 0, iov), 1);
    const std::string payload(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len);
    ASSERT_EQ(codec->on_reply(seq, payload).state, ClientCodec::State::complete);
  }
}

TEST(RequestWork, TheKeyIsTheFirstEightPayloadBytes) {
  const Distribution work = Distribution::parse("uniform:0-1000");
  const std::string a = "abcdefgh-tail-one", b = "abcdefgh-other-tail";
  EXPECT_EQ(request_work_ns(work, {a.data(), 8}), request_work_ns(work, {b.data(), 8}));
  EXPECT_NE(request_work_ns(work, {a.data(), 8}), request_work_ns(work, {a.data() + 1, 8}));
  EXPECT_NE(request_work_ns(work, {a.data(), 3}), request_work_ns(work, {a.data(), 4}));
  for (int i = 0; i < 1000; ++i) {
    const std::string key = std::to_string(i * 7919);
    const std::uint64_t ns = request_work_ns(work, {key.data(), std::min<std::size_t>(key.size(), 8)});
    ASSERT_LE(ns, 1'000'000u);
  }
  EXPECT_EQ(request_work_ns(Distribution(5), {a.data(), 8}), 5000u);  // fixed: the value, whatever the bytes
  // exp has no upper bound: its draws are clamped to --work-us's 1 s.
  for (std::uint64_t i = 0; i < 1000; ++i)
    ASSERT_LE(request_work_ns(Distribution::parse("exp:1000000"), {reinterpret_cast<const char*>(&i), 8}), 1'000'000'000u);
}

// The server burns exactly the work the client computes for each request: with bimodal work of
// 0 or 30 ms, the requests the client calls long take at least 30 ms of the server's time and
// the short ones far less, fed in one-byte reads (the key streams in byte by byte).
TEST(RequestWork, TheServerBurnsTheWorkTheClientComputes) {
  constexpr std::uint64_t kLongNs = 30'000'000;
  const Distribution work = Distribution::parse("bimodal:0.75:0:30000");
  const EchoRequests client(Distribution::parse("uniform:1-20"), 1, work);  // payloads shorter than the key too
  const auto server = with_request_work("echo", work)();
  int shorts = 0, longs = 0;
  for (std::uint64_t seq = 0; seq < 60 && (shorts < 3 || longs < 2); ++seq) {
    const std::uint64_t expected = client.work_ns(2, seq);
    ASSERT_TRUE(expected == 0 || expected == kLongNs) << expected;
    const std::string f = frame(client, 2, seq);
    ByteBuffer out;
    const std::uint64_t start = now_ns();
    for (const char c : f) ASSERT_TRUE(server->on_bytes({&c, 1}, out));
    const std::uint64_t took = now_ns() - start;
    EXPECT_EQ(to_string(out), f);
    if (expected == kLongNs) {
      ++longs;
      EXPECT_GE(took, kLongNs) << "request " << seq << " is long to the client";
    } else {
      ++shorts;
      EXPECT_LT(took, kLongNs) << "request " << seq << " is short to the client";
    }
  }
  EXPECT_GE(shorts, 3);
  EXPECT_GE(longs, 2);
  EXPECT_EQ(server->requests(), static_cast<std::uint64_t>(shorts + longs));
}

TEST(RequestWork, DrawnWorkIsForEchoOnly) {
  const Distribution drawn = Distribution::parse("exp:10");
  EXPECT_NE(with_request_work("echo", drawn), nullptr);
  EXPECT_EQ(with_request_work("http", drawn), nullptr);
  EXPECT_EQ(with_request_work("raw", drawn), nullptr);
  EXPECT_NE(with_request_work("http", Distribution(10)), nullptr);
  EXPECT_EQ(with_request_work("raw", Distribution(10)), nullptr);
  EXPECT_NE(with_request_work("raw", Distribution(0)), nullptr);
}

}  // namespace
}  // namespace mux
