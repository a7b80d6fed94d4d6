// The io_uring variants' pure decisions (backends/io_uring.hpp), each checked against values
// worked out here by hand.
#include <gtest/gtest.h>

#include "backends/io_uring.hpp"
#include "backends/io_uring_ring.hpp"
#include "backends/io_uring_uapi.hpp"

namespace mux {
namespace {

TEST(IoUringZeroCopy, RepliesAtOrAboveTheThresholdGoOutZeroCopy) {
  EXPECT_FALSE(use_zero_copy(16383, 16384));
  EXPECT_TRUE(use_zero_copy(16384, 16384));
  EXPECT_TRUE(use_zero_copy(262148, 16384));
  EXPECT_FALSE(use_zero_copy(1, kDefaultZcThreshold));
  EXPECT_TRUE(use_zero_copy(1, 1));
}

TEST(IoUringBundle, CompletionFillsWholeBuffersThenPartOfOne) {
  EXPECT_EQ(bundle_buffer_count(0, 65536), 0u);
  EXPECT_EQ(bundle_buffer_count(1, 65536), 1u);
  EXPECT_EQ(bundle_buffer_count(65536, 65536), 1u);
  EXPECT_EQ(bundle_buffer_count(65537, 65536), 2u);
  EXPECT_EQ(bundle_buffer_count(262148, 65536), 5u);  // a 256 KiB echo frame: 4 full buffers and 4 bytes
}

TEST(IoUringBundle, ProbeReadsTheSetupFeatureBit) {
  EXPECT_EQ(bundle_support(1U << 14), "");
  const std::string why = bundle_support(IORING_FEAT_FAST_POLL);
  EXPECT_NE(why.find("6.10"), std::string::npos) << why;
  EXPECT_NE(why.find("--backend=io_uring"), std::string::npos) << "names the fix: " << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << "one line";
}

TEST(IoUringFixedFiles, TableFollowsTheFdLimitWithinBounds) {
  EXPECT_EQ(fixed_file_table_size(1024, 10), 1014u);
  EXPECT_EQ(fixed_file_table_size(20000, 7), 19993u);
  EXPECT_EQ(fixed_file_table_size(1 << 20, 7), kMaxFixedFiles);
  EXPECT_EQ(fixed_file_table_size(8, 8), 1u) << "at least one slot, so the ring can be set up";
}

TEST(IoUringSqpoll, ThreadGoesToAnotherServerCpuWhenThereIsOne) {
  EXPECT_EQ(sqpoll_cpu({0, 1}, 0), 1);
  EXPECT_EQ(sqpoll_cpu({0, 1}, 1), 0);
  EXPECT_EQ(sqpoll_cpu({0}, 0), 0);
  EXPECT_EQ(sqpoll_cpu({2}, 5), 2);  // the loop runs elsewhere: the one allowed CPU
  EXPECT_EQ(sqpoll_cpu({}, 0), -1);
}

TEST(IoUringSetupModes, SqpollNeverAsksForDeferTaskrun) {
  for (const unsigned flags : ring_setup_modes({.defer_taskrun = true, .sqpoll = true})) {
    EXPECT_NE(flags & IORING_SETUP_SQPOLL, 0u);
    EXPECT_EQ(flags & IORING_SETUP_DEFER_TASKRUN, 0u) << "the kernel refuses SQPOLL with DEFER_TASKRUN";
  }
  const auto base = ring_setup_modes({});
  ASSERT_FALSE(base.empty());
  EXPECT_NE(base.front() & IORING_SETUP_DEFER_TASKRUN, 0u);
  EXPECT_EQ(base.back(), 0u) << "the last resort is a plain ring";
  for (const unsigned flags : ring_setup_modes({.defer_taskrun = false}))
    EXPECT_EQ(flags & IORING_SETUP_DEFER_TASKRUN, 0u);
}

}  // namespace
}  // namespace mux
