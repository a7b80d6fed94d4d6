// What the processes of one run hand each other, each struct serialised from its field list: a
// load process's or MPI rank's ShardReport, a server's KernelSnapshot, the eBPF syscall
// counter's slot.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/kernel/kernel_counters.hpp"
#include "harness/load/measured_load.hpp"

namespace mux {
namespace {

TEST(Handoff, ShardReportRoundTrips) {
  ShardReport r;
  r.pid = 4242;
  r.host = "loadhost";
  r.clients = 17;
  r.load.emplace();
  r.load->requests = 99;
  r.load->latency.record(12'345);
  r.cpu_us = 1500.5;
  r.kernel.emplace();
  r.kernel->counts["syscalls"] = 77;
  r.kernel->unavailable["page_faults"] = "not counted here";
  const nlohmann::json j = r;
  EXPECT_EQ(j.at("pid"), 4242);
  EXPECT_EQ(j.at("host"), "loadhost");
  EXPECT_EQ(j.at("clients"), 17);
  EXPECT_TRUE(j.at("memory_bytes").is_null());
  EXPECT_EQ(j.at("failure"), "");
  const auto back = nlohmann::json::parse(j.dump()).get<ShardReport>();
  EXPECT_EQ(back.pid, 4242);
  EXPECT_EQ(back.host, "loadhost");
  EXPECT_EQ(back.clients, 17u);
  ASSERT_TRUE(back.load.has_value());
  EXPECT_EQ(back.load->requests, 99u);
  EXPECT_EQ(back.load->latency.count(), 1u);
  EXPECT_EQ(back.load->latency.max(), 12'345u);
  EXPECT_EQ(back.cpu_us, 1500.5);
  EXPECT_FALSE(back.memory_bytes.has_value());
  ASSERT_TRUE(back.kernel.has_value());
  EXPECT_EQ(back.kernel->counts.at("syscalls"), 77u);
  EXPECT_EQ(back.kernel->unavailable.at("page_faults"), "not counted here");
}

TEST(Handoff, ShardReportWithoutResultsKeepsItsNulls) {
  ShardReport r;
  r.failure = "died";
  const auto back = nlohmann::json(r).get<ShardReport>();
  EXPECT_FALSE(back.load.has_value());
  EXPECT_FALSE(back.cpu_us.has_value());
  EXPECT_FALSE(back.kernel.has_value());
  EXPECT_EQ(back.failure, "died");
}

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
