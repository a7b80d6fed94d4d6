// --counters=sampled: the values it takes and the slices it plans over a window.
#include <gtest/gtest.h>

#include "harness/kernel/syscall_sampling.hpp"

namespace mux {
namespace {

TEST(SyscallSampling, ParsesTheCountersModes) {
  std::string why;
  EXPECT_FALSE(parse_counters_mode("on", &why)->sampling.has_value());
  EXPECT_TRUE(parse_counters_mode("on", &why)->enabled);
  EXPECT_FALSE(parse_counters_mode("off", &why)->enabled);
  EXPECT_DOUBLE_EQ(parse_counters_mode("sampled", &why)->sampling->duty, 0.05);
  EXPECT_DOUBLE_EQ(parse_counters_mode("sampled:12.5%", &why)->sampling->duty, 0.125);
  EXPECT_DOUBLE_EQ(parse_counters_mode("sampled:100%", &why)->sampling->duty, 1.0);
  for (const char* bad : {"maybe", "sampled:", "sampled:0%", "sampled:-5%", "sampled:101%", "sampled:5", "sampled:x%",
                          "sampled:nan%", "sampled:5%%", "Sampled"}) {
    why.clear();
    EXPECT_FALSE(parse_counters_mode(bad, &why).has_value()) << bad;
    EXPECT_NE(why.find("sampled:P%"), std::string::npos) << bad << ": " << why;
  }
}

// 10% of 10 s in 100 ms slices: ten, one in the middle of each second.
TEST(SyscallSampling, SpreadsTheSlicesEvenlyOverTheWindow) {
  constexpr std::uint64_t kBegin = 1'000'000'000, kSecond = 1'000'000'000, kSlice = 100'000'000;
  ASSERT_EQ(SyscallSampling::kSliceNs, kSlice);
  const auto slices = plan_slices(SyscallSampling{.duty = 0.1}, kBegin, kBegin + 10 * kSecond);
  ASSERT_EQ(slices.size(), 10u);
  for (std::size_t k = 0; k < slices.size(); ++k) {
    EXPECT_EQ(slices[k].second - slices[k].first, kSlice);
    EXPECT_EQ(slices[k].first, kBegin + k * kSecond + (kSecond - kSlice) / 2);
  }
  EXPECT_EQ(plan_slices(SyscallSampling{}, kBegin, kBegin + 10 * kSecond).size(), 5u) << "5%: one per 2 s";
  // A window a little short of whole periods keeps them; a short one has one slice; a window
  // shorter than a slice is one whole slice.
  EXPECT_EQ(plan_slices(SyscallSampling{.duty = 0.1}, 0, 2 * kSecond - 5'000'000).size(), 2u);
  EXPECT_EQ(plan_slices(SyscallSampling{}, 0, kSecond / 2).size(), 1u);
  const auto tiny = plan_slices(SyscallSampling{}, 0, 20'000'000);
  ASSERT_EQ(tiny.size(), 1u);
  EXPECT_EQ(tiny[0], std::make_pair(std::uint64_t{0}, std::uint64_t{20'000'000}));
  EXPECT_TRUE(plan_slices(SyscallSampling{}, 5, 5).empty());
  // 100%: slices back to back, covering the window.
  std::uint64_t covered = 0;
  for (const auto& [b, e] : plan_slices(SyscallSampling{.duty = 1.0}, 0, kSecond)) covered += e - b;
  EXPECT_EQ(covered, kSecond);
}

}  // namespace
}  // namespace mux
