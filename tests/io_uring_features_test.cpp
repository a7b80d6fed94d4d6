// The io_uring variants' pure decisions (backends/io_uring.hpp), each checked against values
// worked out here by hand; and the ring's submission path when its queue fills (a real ring).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "backends/io_uring.hpp"
#include "backends/io_uring_ring.hpp"
#include "core/io_uring_uapi.hpp"

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

// The bug below was a hang: this turns one into a failure that names it (the process ends).
class Watchdog {
 public:
  explicit Watchdog(const char* mode) : thread_([this, mode] {
    for (int tenths = 0; tenths < 300 && !done_; ++tenths) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (done_) return;
    std::fprintf(stderr, "FAILED: %s ring: a full submission queue was not submitted within 30 s\n", mode);
    std::_Exit(1);
  }) {}
  ~Watchdog() {
    done_ = true;
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// A batch that queues more entries than the submission queue holds (10,000 connections
// accepted in one batch, each arming a recv) must submit the full queue and go on. With
// SQPOLL, Ring::next_sqe once waited for the SQ thread to take entries it had never been
// shown (liburing publishes them only in io_uring_submit), and spun forever.
TEST(IoUringRing, QueueingPastAFullSubmissionQueueSubmitsIt) {
  for (const IoUringFeatures features : {IoUringFeatures{.defer_taskrun = false, .sqpoll = true}, IoUringFeatures{}}) {
    const char* mode = features.sqpoll ? "SQPOLL" : "default";
    if (features.sqpoll && !probe_io_uring_sqpoll().empty()) {
      std::printf("SQPOLL case not run: %s\n", probe_io_uring_sqpoll().c_str());
      continue;
    }
    if (!probe_io_uring().empty()) GTEST_SKIP() << probe_io_uring();
    const Watchdog watchdog(mode);
    Ring ring(ring_setup(features));
    const unsigned entries = ring.get()->sq.ring_entries;
    const unsigned nops = 2 * entries + 1;  // fills the queue twice, then one more
    ASSERT_LE(nops, ring.get()->cq.ring_entries) << "the completions must fit the CQ";
    for (unsigned i = 0; i < nops; ++i) {
      io_uring_sqe* sqe = ring.next_sqe();
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(sqe, i);
    }
    unsigned completed = 0;
    std::uint64_t sum_of_data = 0;
    while (completed < nops) {
      ring.submit_and_wait();
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_cqe* cqe = nullptr;
      io_uring_for_each_cqe(ring.get(), head, cqe) {
        EXPECT_EQ(cqe->res, 0) << mode;
        sum_of_data += cqe->user_data;
        ++seen;
      }
      io_uring_cq_advance(ring.get(), seen);
      completed += seen;
    }
    EXPECT_EQ(completed, nops) << mode;
    EXPECT_EQ(sum_of_data, std::uint64_t{nops} * (nops - 1) / 2) << mode << ": each entry completed once";
  }
}

}  // namespace
}  // namespace mux
