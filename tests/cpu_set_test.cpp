#include "core/cpu_set.hpp"

#include <gtest/gtest.h>

#include "core/usage_error.hpp"


namespace mux {
namespace {

TEST(CpuList, ParsesAndFormats) {
  const CpuList all = allowed_cpus();
  ASSERT_FALSE(all.empty());
  const std::string first = std::to_string(all.front());
  EXPECT_EQ(parse_cpu_list(first), CpuList{all.front()});
  EXPECT_EQ(format_cpu_list(parse_cpu_list(format_cpu_list(all))), format_cpu_list(all));
}

TEST(CpuList, RejectsBadSyntaxAndMissingCores) {
  EXPECT_THROW(parse_cpu_list("zero"), UsageError);
  EXPECT_THROW(parse_cpu_list("3-1"), UsageError);
  EXPECT_THROW(parse_cpu_list(""), UsageError);
  EXPECT_THROW(parse_cpu_list("1000"), UsageError);
}

// A core listed twice would get two loops pinned to it as if it were two cores.
TEST(CpuList, RejectsACoreListedTwice) {
  for (const char* text : {"0,0", "0-1,1", "1,0-1", "0-2,2-3"}) {
    SCOPED_TRACE(text);
    try {
      parse_cpu_list(text);
      ADD_FAILURE() << "accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("listed twice"), std::string::npos) << e.what();
    }
  }
}

TEST(CpuSplit, ServerAndClientDoNotShareCoresWhenThereAreTwo) {
  const CpuSplit split = default_cpu_split();
  ASSERT_FALSE(split.server.empty());
  ASSERT_FALSE(split.client.empty());
  if (allowed_cpus().size() < 2) GTEST_SKIP() << "one core: server and client share it";
  for (int c : split.server) EXPECT_EQ(std::find(split.client.begin(), split.client.end(), c), split.client.end());
}

}  // namespace
}  // namespace mux
