// The bottleneck verdict and the request-count check, on numbers chosen by hand; and the
// per-thread CPU they are fed with, read from this very thread.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "harness/results/verdict.hpp"

namespace mux {
namespace {

constexpr double kWindowS = 10;
constexpr std::uint64_t kWindowNs = 10'000'000'000ULL;

// A side whose busiest thread ran `busiest` of the window, `threads` threads in all, using
// `total` cores' worth of CPU, pinned to `cores` cores.
SideCpu side(double busiest, std::size_t threads, double total, std::size_t cores) {
  const auto ns = static_cast<std::uint64_t>(busiest * kWindowNs);
  const ThreadCpuUse use{.busiest_on_cpu_ns = ns, .busiest_demand_ns = ns, .threads = threads};
  return {.total_us = total * kWindowS * 1e6, .threads = use, .cores = cores};
}

TEST(Bottleneck, OneSaturatedLoopOnTwoCoresIsTheServer) {
  // The epoll server: one loop thread at 100% plus a control thread that barely ran, on two
  // cores. Total / cores is ~50%; the busiest thread shows the saturation.
  EXPECT_EQ(bottleneck_verdict(side(1.0, 2, 1.01, 2), side(0.3, 1, 0.3, 1), kWindowS), "server");
  EXPECT_EQ(bottleneck_verdict(side(0.97, 2, 0.98, 2), side(0.95, 1, 0.95, 1), kWindowS), "both");
}

// A loop that always has work but shares its core with another process runs less than the
// window; the time it waited on the run queue shows it is still what limits the throughput.
TEST(Bottleneck, ALoopStarvedByOtherProcessesIsStillSaturated) {
  SideCpu starved = side(0.45, 2, 0.46, 2);
  starved.threads->busiest_demand_ns = static_cast<std::uint64_t>(0.97 * kWindowNs);  // ran 45%, waited 52%
  EXPECT_EQ(bottleneck_verdict(starved, side(0.3, 1, 0.3, 1), kWindowS), "server");
  SideCpu idle = starved;
  idle.threads->busiest_demand_ns = static_cast<std::uint64_t>(0.55 * kWindowNs);  // waited 10%: no
  EXPECT_EQ(bottleneck_verdict(idle, side(0.3, 1, 0.3, 1), kWindowS), "neither");
}

TEST(Bottleneck, ManyThreadsAreJudgedByTheCoresTheyCouldUse) {
  // Thread per client: no thread is busy, but together they fill the one core they have.
  EXPECT_EQ(bottleneck_verdict(side(0.01, 100, 0.95, 1), side(0.5, 1, 0.5, 1), kWindowS), "server");
  // Two busy threads on four cores: what they could use is two cores, and they used it.
  EXPECT_EQ(bottleneck_verdict(side(0.8, 2, 1.85, 4), side(0.5, 1, 0.5, 1), kWindowS), "server");
  // The same two threads at half speed: nobody is saturated.
  EXPECT_EQ(bottleneck_verdict(side(0.5, 2, 1.0, 4), side(0.5, 1, 0.5, 1), kWindowS), "neither");
}

TEST(Bottleneck, TooManyThreadsToReadOneByOneAreJudgedByTheirTotal) {
  const SideCpu many{.total_us = 0.95 * kWindowS * 1e6,
                     .threads = ThreadCpuUse{.busiest_on_cpu_ns = std::nullopt, .busiest_demand_ns = std::nullopt,
                                             .threads = 10000},
                     .cores = 1};
  EXPECT_EQ(bottleneck_verdict(many, side(0.5, 1, 0.5, 1), kWindowS), "server");
  SideCpu idle = many;
  idle.total_us = 0.2 * kWindowS * 1e6;
  EXPECT_EQ(bottleneck_verdict(idle, side(0.5, 1, 0.5, 1), kWindowS), "neither");
}

TEST(Bottleneck, TheLoadGeneratorAlone) {
  EXPECT_EQ(bottleneck_verdict(side(0.5, 2, 0.5, 2), side(0.99, 1, 1.0, 1), kWindowS), "load_generator");
}

TEST(Bottleneck, UnknownWhenEitherSideWasNotMeasured) {
  const SideCpu outside_server{.total_us = std::nullopt, .threads = std::nullopt, .cores = 1};
  EXPECT_EQ(bottleneck_verdict(outside_server, side(1.0, 1, 1.0, 1), kWindowS), "unknown");
  EXPECT_FALSE(saturated(outside_server, kWindowS).has_value());
  SideCpu no_threads = side(1.0, 1, 1.0, 1);
  no_threads.threads.reset();
  EXPECT_FALSE(saturated(no_threads, kWindowS).has_value());
  EXPECT_FALSE(saturated(side(1.0, 1, 1.0, 1), 0).has_value()) << "nothing was measured in an empty window";
}

TEST(RequestCountCheck, HoldsBetweenCompletedAndSent) {
  EXPECT_TRUE((RequestCountCheck{.client_completed = 100, .client_sent = 110, .server_answered = 105}.ok()));
  EXPECT_TRUE((RequestCountCheck{.client_completed = 100, .client_sent = 100, .server_answered = 100}.ok()));
  EXPECT_TRUE((RequestCountCheck{.client_completed = 100, .client_sent = 110, .server_answered = 110}.ok()));
}

TEST(RequestCountCheck, FailsOutsideThatRange) {
  EXPECT_FALSE((RequestCountCheck{.client_completed = 100, .client_sent = 110, .server_answered = 99}.ok()))
      << "the client completed a reply the server never counted";
  EXPECT_FALSE((RequestCountCheck{.client_completed = 100, .client_sent = 110, .server_answered = 111}.ok()))
      << "the server answered a request the client never sent in full";
  EXPECT_FALSE((RequestCountCheck{.client_completed = 5, .client_sent = 10, .server_answered = 0}.ok()));
}

TEST(ThreadCpu, DeltaCountsNewThreadsFromZeroAndDropsEndedOnes) {
  const std::map<pid_t, SchedTimes> before = {{1, {100, 10}}, {2, {500, 0}}, {3, {1000, 0}}};
  const std::map<pid_t, SchedTimes> after = {{1, {400, 310}},  // ran 300, waited 300
                                             {3, {1000, 0}},   // did not run
                                             {4, {350, 0}}};   // began in the window
  const ThreadCpuUse use = thread_cpu_use(before, after);
  EXPECT_EQ(use.threads, 2u);
  EXPECT_EQ(use.busiest_on_cpu_ns, 350u);
  EXPECT_EQ(use.busiest_demand_ns, 600u) << "thread 1 had work longest: it ran 300 and waited 300";
}

TEST(ThreadCpu, AReusedThreadIdCountsAsANewThread) {
  const ThreadCpuUse use = thread_cpu_use({{7, {5000, 900}}}, {{7, {200, 50}}});
  EXPECT_EQ(use.threads, 1u);
  EXPECT_EQ(use.busiest_on_cpu_ns, 200u);
  EXPECT_EQ(use.busiest_demand_ns, 250u);
}

// Two threads spinning on one CPU: each waits on the run queue while the other runs, and the
// kernel's schedstat says so. Bounded by the spin count, not by how busy the machine is.
TEST(ThreadCpu, AThreadSharingItsCpuWithABusyOneWaitsOnTheRunQueue) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  std::optional<SchedTimes> used;
  const auto spin = [&](bool record) {
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
    const auto start = read_thread_sched("/proc/thread-self/schedstat");
    for (const std::uint64_t until = now_ns() + 200'000'000; now_ns() < until;) {
    }
    const auto end = read_thread_sched("/proc/thread-self/schedstat");
    if (record && start && end) used = sched_times_since(*start, *end);
  };
  std::thread other(spin, false);
  spin(true);
  other.join();
  ASSERT_TRUE(used.has_value());
  EXPECT_GT(used->on_cpu_ns, 0u);
  EXPECT_GT(used->waiting_ns, 0u) << "it shared one CPU with a spinning thread for 200 ms and never waited";
}

TEST(ThreadCpu, ThisThreadsCpuGrowsWhileItWorks) {
  const auto before = read_thread_sched("/proc/thread-self/schedstat");
  ASSERT_TRUE(before.has_value());
  for (const std::uint64_t until = now_ns() + 20'000'000; now_ns() < until;) {
  }
  const auto after = read_thread_sched("/proc/thread-self/schedstat");
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(after->on_cpu_ns, before->on_cpu_ns);
  const auto mine = read_process_thread_cpu(::getpid(), 1000);
  ASSERT_TRUE(mine.has_value());
  EXPECT_TRUE(mine->contains(static_cast<pid_t>(::gettid()))) << "this thread is one of the process's";
  EXPECT_EQ(mine->size(), process_thread_count(::getpid()));
  EXPECT_FALSE(read_process_thread_cpu(::getpid(), 0).has_value()) << "more threads than asked to read";
  EXPECT_FALSE(read_process_thread_cpu(-1, 1000).has_value()) << "no such process";
}

// The /proc/PID/stat fallback against getrusage, which counts the same threads exactly: they
// differ by at most a clock tick in each of utime and stime.
TEST(ThreadCpu, StatCpuOfThisProcessMatchesGetrusage) {
  for (const std::uint64_t until = now_ns() + 50'000'000; now_ns() < until;) {
  }
  rusage ru{};
  ASSERT_EQ(::getrusage(RUSAGE_SELF, &ru), 0);
  const double rusage_us = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  const double tick_us = 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_NEAR(processes_stat_cpu_us({::getpid()}), rusage_us, 2 * tick_us + 5'000);
  EXPECT_EQ(processes_stat_cpu_us({-1}), 0) << "no such process";
}

}  // namespace
}  // namespace mux
