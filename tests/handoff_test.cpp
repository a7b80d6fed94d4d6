// What the processes of one run hand each other, each struct serialised from its field list: a
// server's KernelSnapshot, the eBPF syscall counter's slot.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/kernel/kernel_counters.hpp"

namespace mux {
namespace {

TEST(Handoff, KernelSnapshotRoundTripsAndToleratesWhatIsMissing) {
  KernelSnapshot s;
  s.counts = {{"syscalls", 5}, {"syscall:read", 2}};
  s.unavailable = {{"cpu_migrations", "perf_event_open refused"}};
  s.scaled = {"cycles"};
  s.coverage = "2 threads escaped";
  s.syscalls_counted_by = "ebpf";
  s.ebpf_refused = "";
  s.syscall_counting_method = "fentry";
  s.fentry_refused = "no BTF";
  const nlohmann::json j = s;
  EXPECT_EQ(j.at("syscalls_counted_by"), "ebpf");
  EXPECT_EQ(j.at("counts").at("syscall:read"), 2);
  const KernelSnapshot back = snapshot_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(back.counts, s.counts);
  EXPECT_EQ(back.unavailable, s.unavailable);
  EXPECT_EQ(back.scaled, s.scaled);
  EXPECT_EQ(back.coverage, s.coverage);
  EXPECT_EQ(back.syscalls_counted_by, "ebpf");
  EXPECT_EQ(back.syscall_counting_method, "fentry");
  EXPECT_EQ(back.fentry_refused, "no BTF");
  // A server that counts nothing answers with less: what is missing is empty.
  EXPECT_TRUE(snapshot_from_json(nlohmann::json::parse(R"({"counts": {"syscalls": 1}})")).unavailable.empty());
  EXPECT_TRUE(snapshot_from_json(nlohmann::json()).counts.empty());
}

TEST(Handoff, SyscallCounterArgumentRoundTripsAndRefusesBadOnes) {
  const SyscallCounterHandoff h{.processes_fd = 5, .counts_fd = 6, .slot = 1, .migrations = true};
  const auto back = SyscallCounterHandoff::parse(h.to_argument());
  ASSERT_TRUE(back.has_value()) << h.to_argument();
  EXPECT_EQ(back->processes_fd, 5);
  EXPECT_EQ(back->counts_fd, 6);
  EXPECT_EQ(back->slot, 1u);
  EXPECT_TRUE(back->migrations);
  nlohmann::json j = nlohmann::json::parse(h.to_argument());
  EXPECT_EQ(j.size(), 4u) << j.dump();
  for (const char* bad : {"", "5,6,1,1", "{}", R"({"processes_fd": 5, "counts_fd": 6, "slot": 1})",
                          R"({"processes_fd": -1, "counts_fd": 6, "slot": 1, "migrations": false})",
                          R"({"processes_fd": 5, "counts_fd": 6, "slot": 1, "migrations": 1})"})
    EXPECT_FALSE(SyscallCounterHandoff::parse(bad).has_value()) << bad;
  j["slot"] = BpfSyscallCounter::kSlots;
  EXPECT_FALSE(SyscallCounterHandoff::parse(j.dump()).has_value()) << "a slot past the counter's";
}

}  // namespace
}  // namespace mux
