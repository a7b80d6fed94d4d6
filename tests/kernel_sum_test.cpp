// Counts an MPI load rank takes of its own process and rank 0 adds up (harness/kernel/kernel_sum.cpp).
#include <gtest/gtest.h>

#include "harness/kernel/kernel_counters.hpp"

namespace mux {
namespace {

KernelSnapshot snapshot(std::map<std::string, std::uint64_t> counts, std::map<std::string, std::string> unavailable = {}) {
  KernelSnapshot s;
  s.counts = std::move(counts);
  s.unavailable = std::move(unavailable);
  s.syscalls_counted_by = "ebpf";
  return s;
}

TEST(KernelSum, AWindowIsTheDifferenceCounterByCounter) {
  const KernelSnapshot before = snapshot({{"syscalls", 100}, {"syscall:read", 40}, {"page_faults", 7}},
                                         {{"cycles", "no PMU"}});
  const KernelSnapshot after = snapshot({{"syscalls", 350}, {"syscall:read", 140}, {"page_faults", 7}, {"context_switches", 9}},
                                        {{"cycles", "no PMU"}});
  const KernelSnapshot w = snapshot_window(before, after);
  EXPECT_EQ(w.counts.at("syscalls"), 250u);
  EXPECT_EQ(w.counts.at("syscall:read"), 100u);
  EXPECT_EQ(w.counts.at("page_faults"), 0u);
  EXPECT_FALSE(w.counts.contains("context_switches")) << "not counted at the start: no difference to take";
  EXPECT_TRUE(w.unavailable.contains("context_switches"));
  EXPECT_EQ(w.unavailable.at("cycles"), "no PMU");
  EXPECT_EQ(w.syscalls_counted_by, "ebpf");
}

TEST(KernelSum, WindowsAddUpAndACounterOneLacksIsUnavailableNamingIt) {
  const KernelSnapshot a = snapshot({{"syscalls", 300}, {"syscall:sendto", 100}, {"context_switches", 5}});
  const KernelSnapshot b = snapshot({{"syscalls", 500}, {"syscall:sendto", 200}}, {{"context_switches", "refused"}});
  const KernelSnapshot sum = sum_windows({a, b}, {"rank 1 (h1)", "rank 2 (h2)"});
  EXPECT_EQ(sum.counts.at("syscalls"), 800u);
  EXPECT_EQ(sum.counts.at("syscall:sendto"), 300u);
  EXPECT_FALSE(sum.counts.contains("context_switches"));
  EXPECT_EQ(sum.unavailable.at("context_switches"), "rank 2 (h2): refused");
}

TEST(KernelSum, PerRequestIsTheSumOverEveryRequest) {
  const KernelSnapshot sum = sum_windows({snapshot({{"syscalls", 300}, {"syscall:sendto", 100}}),
                                          snapshot({{"syscalls", 500}, {"syscall:sendto", 150}})},
                                         {"rank 1", "rank 2"});
  const auto json = window_json(sum, 250, "test");
  EXPECT_TRUE(json["available"].get<bool>());
  EXPECT_DOUBLE_EQ(json["syscalls_per_request"].get<double>(), 800.0 / 250.0);
  EXPECT_DOUBLE_EQ(json["per_syscall"]["sendto"]["per_request"].get<double>(), 250.0 / 250.0);
  EXPECT_EQ(json["totals"]["syscalls"].get<std::uint64_t>(), 800u);
}

}  // namespace
}  // namespace mux
