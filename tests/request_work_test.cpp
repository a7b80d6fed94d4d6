// Simulated application work: the same bytes out, and at least the asked-for time per request.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/http_protocol.hpp"
#include "core/request_work.hpp"

namespace mux {
namespace {

std::string drain(ByteBuffer& out) {
  const auto bytes = out.readable();
  std::string s(bytes.data(), bytes.size());
  out.consume(bytes.size());
  return s;
}

TEST(RequestWork, AnswersExactlyLikeTheWrappedCodec) {
  const auto plain = server_codec_factory("http")();
  const auto working = with_request_work(server_codec_factory("http"), 1000)();
  const std::string three = std::string(kHttpRequest) + std::string(kHttpRequest) + std::string(kHttpRequest);
  ByteBuffer a, b;
  EXPECT_TRUE(plain->on_bytes({three.data(), three.size()}, a));
  EXPECT_TRUE(working->on_bytes({three.data(), three.size()}, b));
  EXPECT_EQ(drain(a), drain(b));
  EXPECT_EQ(working->requests(), 3u);

  const std::string_view garbage = "\x01\x02 nonsense\r\n\r\n";
  EXPECT_FALSE(working->on_bytes({garbage.data(), garbage.size()}, b));
  EXPECT_TRUE(working->broke_protocol());
}

TEST(RequestWork, BurnsTheTimeOfEveryRequestAnswered) {
  constexpr std::uint64_t kWorkNs = 20'000'000;  // 20 ms each: far above clock and scheduling noise
  const auto codec = with_request_work(server_codec_factory("http"), kWorkNs)();
  const std::string two = std::string(kHttpRequest) + std::string(kHttpRequest);
  ByteBuffer out;
  const std::uint64_t start = now_ns();
  ASSERT_TRUE(codec->on_bytes({two.data(), two.size()}, out));
  EXPECT_GE(now_ns() - start, 2 * kWorkNs);

  // A partial request answers nothing, so it costs nothing.
  const std::uint64_t partial_start = now_ns();
  ASSERT_TRUE(codec->on_bytes({kHttpRequest.data(), 5}, out));
  EXPECT_LT(now_ns() - partial_start, kWorkNs);
}

TEST(RequestWork, ZeroWorkIsTheWrappedFactoryItself) {
  int made = 0;
  ServerCodecFactory counting = [&made] {
    ++made;
    return server_codec_factory("echo")();
  };
  with_request_work(counting, 0)();
  EXPECT_EQ(made, 1);
}

}  // namespace
}  // namespace mux
