// What each request costs the kernel (results.kernel_counters): checked against perf(1) and
// against what each I/O model must do per request, and reported honestly where not counted.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "harness/kernel/counter_table.hpp"
#include "harness/results/verdict.hpp"
#include "harness/spec/slo.hpp"
#include "tests/one_connection_echo.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

constexpr const char* kPerf = "/usr/bin/perf";

// The fields every side reports (null with a reason in "unavailable" when not counted).
constexpr const char* kFields[] = {"syscalls_per_request", "context_switches_per_request",
                                   "voluntary_context_switches_per_request", "involuntary_context_switches_per_request",
                                   "page_faults_per_request", "cpu_migrations_per_request", "instructions_per_request",
                                   "cycles_per_request", "instructions_per_cycle"};

nlohmann::json run_json(const std::vector<std::string>& args, Outcome* outcome = nullptr) {
  TempDir dir;
  std::vector<std::string> all = args;
  all.push_back("--json=" + dir.file("r.json"));
  const Outcome o = bench(all);
  if (outcome) *outcome = o;
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  return o.exit_code == 0 ? read_json(dir.file("r.json")) : nlohmann::json();
}

double field(const nlohmann::json& doc, const char* side, const char* name) {
  const auto& v = doc["results"]["kernel_counters"][side][name];
  EXPECT_TRUE(v.is_number()) << side << "." << name << " is not a number: "
                             << doc["results"]["kernel_counters"][side].dump(2);
  return v.is_number() ? v.get<double>() : -1;
}

// Every field is present; a null one has its reason.
void expect_well_formed(const nlohmann::json& side) {
  ASSERT_TRUE(side.is_object());
  for (const char* f : kFields) {
    ASSERT_TRUE(side.contains(f)) << f;
    if (side[f].is_null()) {
      EXPECT_TRUE(side["unavailable"][f].is_string()) << f << " is null without a reason: " << side.dump(2);
    } else {
      EXPECT_GE(side[f].get<double>(), 0) << f;
    }
  }
  EXPECT_TRUE(side["per_syscall"].is_object());
  EXPECT_TRUE(side["attribution"].is_string());
}

// Ours counts the bench load process over the measured window; perf stat counts the same
// process from exec to exit. So perf's total = ours + the syscalls outside the window (start-up,
// connecting, thread creation, writing the JSON): ours must never exceed it, and with a 2 s
// window of one busy connection the part outside must stay under 5%.
TEST(KernelCounters, LoadGeneratorSyscallsAgreeWithPerfStat) {
  if (!std::filesystem::exists(kPerf)) GTEST_SKIP() << kPerf << " is missing: scripts/setup installs linux-perf";
  OneConnectionEchoServer server;
  TempDir dir;
  const Outcome o = run({kPerf, "stat", "-x,", "-o", dir.file("perf.csv"), "-e", "raw_syscalls:sys_enter", "--",
                         BENCH_PATH, "load", fmt::format("--target=127.0.0.1:{}", server.port()), "--clients=1",
                         "--duration=2", "--warmup=0", "--counters=on", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  std::uint64_t perf_total = 0;
  std::istringstream csv(slurp(dir.file("perf.csv")));
  for (std::string line; std::getline(csv, line);)
    if (line.find("raw_syscalls:sys_enter") != std::string::npos) perf_total = std::strtoull(line.c_str(), nullptr, 10);
  if (perf_total == 0) GTEST_SKIP() << "perf stat could not count raw_syscalls:sys_enter here: " << slurp(dir.file("perf.csv"));

  const auto doc = read_json(dir.file("r.json"));
  const auto& gen = doc["results"]["kernel_counters"]["loadgen"];
  ASSERT_TRUE(gen["available"].get<bool>()) << gen.dump(2);
  const auto ours = gen["totals"]["syscalls"].get<std::uint64_t>();
  EXPECT_LE(ours, perf_total) << "the window cannot hold more syscalls than the whole process made";
  EXPECT_GE(static_cast<double>(ours), 0.95 * static_cast<double>(perf_total))
      << "ours " << ours << " vs perf " << perf_total;
  const auto requests = doc["results"]["requests"].get<double>();
  EXPECT_NEAR(gen["syscalls_per_request"].get<double>(), static_cast<double>(ours) / requests, 1e-9);
  // `bench load` did not start the server: that side is not counted, and says why.
  const auto& srv = doc["results"]["kernel_counters"]["server"];
  EXPECT_FALSE(srv["available"].get<bool>());
  EXPECT_TRUE(srv["syscalls_per_request"].is_null());
  EXPECT_NE(srv["unavailable_reason"].get<std::string>().find("bench load"), std::string::npos);
}

// One client, closed loop: each request costs an epoll server one epoll_wait, one recv and one
// send; io_uring's multishot recv needs no call per receive, so it makes fewer.
TEST(KernelCounters, SingleClientEpollMakesThreeSyscallsPerRequestAndIoUringFewer) {
  Outcome out;
  const auto epoll = run_json({"--backend=epoll", "--clients=1", "--duration=1", "--warmup=0.2", "--counters=on",
                               "--syscalls"}, &out);
  ASSERT_FALSE(epoll.is_null());
  const auto& srv = epoll["results"]["kernel_counters"]["server"];
  expect_well_formed(srv);
  expect_well_formed(epoll["results"]["kernel_counters"]["loadgen"]);
  const double epoll_sys = field(epoll, "server", "syscalls_per_request");
  EXPECT_GE(epoll_sys, 2.5) << srv.dump(2);
  EXPECT_LE(epoll_sys, 3.5) << srv.dump(2);
  for (const char* name : {"epoll_wait", "recvfrom", "sendto"})
    EXPECT_NEAR(srv["per_syscall"][name]["per_request"].get<double>(), 1.0, 0.2) << name << ": " << srv.dump(2);
  // Counted by eBPF where the kernel allows it (root here), else by perf_event, saying why.
  for (const char* side : {"server", "loadgen"}) {
    const auto& s = epoll["results"]["kernel_counters"][side];
    if (s["ebpf_refused"].is_string()) {
      EXPECT_EQ(s["syscalls_counted_by"], "perf_event") << s.dump(2);
      EXPECT_EQ(s["syscall_counting_method"], "perf_event tracepoint events") << s.dump(2);
    } else {
      EXPECT_EQ(s["syscalls_counted_by"], "ebpf") << s.dump(2);
      // At fentry where the kernel allows tracing programs, else at the tracepoint, saying why.
      if (s["fentry_refused"].is_string())
        EXPECT_EQ(s["syscall_counting_method"], "raw tracepoint sys_enter") << s.dump(2);
      else
        EXPECT_EQ(s["syscall_counting_method"], "fentry x64_sys_call") << s.dump(2);
    }
  }
  EXPECT_EQ(epoll["results"]["kernel_counters"]["server"]["syscall_counting_method"],
            epoll["results"]["kernel_counters"]["loadgen"]["syscall_counting_method"])
      << "one program, bench's, counts both sides";
  EXPECT_GT(field(epoll, "loadgen", "syscalls_per_request"), 0);
  EXPECT_NE(out.out.find("srv sys/req"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("server syscalls per request: "), std::string::npos) << "--syscalls shows the breakdown\n"
                                                                               << out.out;

  const auto uring = run_json({"--backend=io_uring", "--clients=1", "--duration=1", "--warmup=0.2", "--counters=on"});
  ASSERT_FALSE(uring.is_null());
  EXPECT_LT(field(uring, "server", "syscalls_per_request"), epoll_sys);
  EXPECT_GT(uring["results"]["kernel_counters"]["server"]["per_syscall"]["io_uring_enter"]["count"].get<double>(), 0);
}

// Per-connection threads start after the counters open: they are counted by inheritance.
// Uncounted, the server would show only its main and control threads: ~0.001 per request.
// Each request costs a thread a recv and a send; "about 2" and not "at least 2" because the
// server reads its counters when its control thread gets the CPU among 20 busy threads, a
// little after bench reads its own: the server's window can be ~1% shorter than the client's.
TEST(KernelCounters, ThreadsServerCountsItsConnectionThreads) {
  const auto doc = run_json({"--backend=threads", "--clients=20", "--duration=1", "--warmup=0.2"});
  ASSERT_FALSE(doc.is_null());
  const auto& srv = doc["results"]["kernel_counters"]["server"];
  expect_well_formed(srv);
  EXPECT_GE(field(doc, "server", "syscalls_per_request"), 1.8) << "a recv and a send per request: " << srv.dump(2);
  EXPECT_GT(field(doc, "server", "context_switches_per_request"), 0);
  EXPECT_GE(srv["per_syscall"]["recvfrom"]["per_request"].get<double>(), 0.9) << srv.dump(2);
  EXPECT_GE(srv["per_syscall"]["sendto"]["per_request"].get<double>(), 0.9) << srv.dump(2);
}

TEST(KernelCounters, CountersOffReportsNullWithTheReason) {
  Outcome out;
  const auto doc = run_json({"--backend=epoll", "--clients=2", "--duration=0.3", "--warmup=0.1", "--counters=off"}, &out);
  ASSERT_FALSE(doc.is_null());
  for (const char* side : {"server", "loadgen"}) {
    const auto& s = doc["results"]["kernel_counters"][side];
    expect_well_formed(s);
    EXPECT_FALSE(s["available"].get<bool>());
    EXPECT_EQ(s["unavailable_reason"], "turned off by --counters=off");
    for (const char* f : kFields) {
      EXPECT_TRUE(s[f].is_null()) << side << "." << f;
      EXPECT_EQ(s["unavailable"][f], "turned off by --counters=off") << side << "." << f;
    }
  }
  EXPECT_NE(out.out.find("n/a"), std::string::npos) << out.out;
}

TEST(KernelCounters, BadCountersValueIsRejected) {
  for (const char* bad : {"--counters=maybe", "--counters=sampled:0%", "--counters=sampled:150%", "--counters=sampled:5"}) {
    const Outcome o = bench({bad, "--duration=0.1"});
    EXPECT_EQ(o.exit_code, 2) << bad;
    EXPECT_TRUE(o.out.empty()) << bad;
    EXPECT_NE(o.err.find("--counters"), std::string::npos) << bad << ": " << o.err;
    EXPECT_NE(o.err.find("sampled:P%"), std::string::npos) << bad << ": the fix is named: " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << bad << ": one line: " << o.err;
  }
}

// --counters=sampled: the system calls of 100 ms slices, per request completed in them, agree
// with exact counting (one client, closed loop: an epoll server makes 3 calls per request),
// and each side says what the slices covered; the other counters cover the whole window.
TEST(KernelCounters, SampledSyscallsAgreeWithExactCountingAndSayWhatTheyCover) {
  Outcome out;
  const auto sampled = run_json({"--backend=epoll", "--clients=1", "--duration=2", "--warmup=0.2",
                                 "--counters=sampled:10%"}, &out);
  const auto exact = run_json({"--backend=epoll", "--clients=1", "--duration=2", "--warmup=0.2", "--counters=on"});
  ASSERT_FALSE(sampled.is_null());
  ASSERT_FALSE(exact.is_null());
  const auto requests = sampled["results"]["requests"].get<std::uint64_t>();
  for (const char* side : {"server", "loadgen"}) {
    const auto& s = sampled["results"]["kernel_counters"][side];
    expect_well_formed(s);
    EXPECT_TRUE(exact["results"]["kernel_counters"][side]["sampling"].is_null()) << "exact: no sampling";
    if (s["syscalls_counted_by"] != "ebpf") {
      EXPECT_EQ(s["sampling"]["mode"], "exact") << s.dump(2);  // perf_event: not sampled, and why
      EXPECT_TRUE(s["sampling"]["reason"].is_string()) << s.dump(2);
      continue;
    }
    const auto& sampling = s["sampling"];
    ASSERT_EQ(sampling["mode"], "sampled") << s.dump(2);
    // 10% of ~2 s in 100 ms slices: 2 slices, about a tenth of the window.
    EXPECT_GE(sampling["slices"].get<int>(), 2) << sampling.dump();
    const double covered = sampling["covered_fraction"].get<double>();
    EXPECT_GT(covered, 0.03) << sampling.dump();
    EXPECT_LT(covered, 0.3) << sampling.dump();
    const auto in_slices = sampling["requests_in_slices"].get<std::uint64_t>();
    EXPECT_GT(in_slices, 0u);
    EXPECT_LT(in_slices, requests) << "the slices are part of the window";
    // Totals cover the slices only: per request = total / requests in the slices.
    const auto total = s["totals"]["syscalls"].get<double>();
    EXPECT_NEAR(s["syscalls_per_request"].get<double>(), total / static_cast<double>(in_slices), 1e-9);
    const double exact_per_request = field(exact, side, "syscalls_per_request");
    EXPECT_NEAR(field(sampled, side, "syscalls_per_request"), exact_per_request, 0.15 * exact_per_request)
        << side << ": sampled " << s.dump(2);
    // getrusage covers the whole window, as in exact mode.
    EXPECT_NEAR(s["context_switches_per_request"].get<double>(),
                s["totals"]["context_switches"].get<double>() / static_cast<double>(requests), 1e-9);
  }
  const auto& srv = sampled["results"]["kernel_counters"]["server"];
  if (srv["sampling"]["mode"] == "sampled") {
    EXPECT_NEAR(srv["syscalls_per_request"].get<double>(), 3.0, 0.45) << srv.dump(2);
    EXPECT_NEAR(srv["per_syscall"]["recvfrom"]["per_request"].get<double>(), 1.0, 0.15) << srv.dump(2);
    EXPECT_NE(out.out.find("system calls sampled: counted in"), std::string::npos) << out.out;
  }
}

// Between slices the program is detached: bench holds no link to sys_enter then (its fds'
// fdinfo names the raw tracepoint of each link it holds), though its migration program's link
// stays. Exact counting holds the sys_enter link the whole run.
double share_of_time_attached(const std::string& counters) {
  int alive = 0, attached = 0;
  const Outcome o = bench({"--backend=epoll", "--clients=1", "--duration=3", "--warmup=0", "--counters=" + counters},
                          [&](pid_t pid) {
                            for (;;) {
                              const std::string dir = fmt::format("/proc/{}/fdinfo", pid);
                              if (slurp(fmt::format("/proc/{}/stat", pid)).find(") Z") != std::string::npos) break;
                              std::error_code ec;
                              bool migrate = false, sys_enter = false;
                              for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
                                // An fd may close between the listing and the read (bench
                                // detaches a slice's link): slurp() then returns "".
                                const std::string info = slurp(entry.path().string());
                                migrate |= info.find("tp_name:\tsched_migrate_task") != std::string::npos;
                                sys_enter |= info.find("tp_name:\tsys_enter") != std::string::npos;
                              }
                              if (ec) break;  // it is gone
                              alive += migrate ? 1 : 0;
                              attached += migrate && sys_enter ? 1 : 0;
                              sleep_ms(5);
                            }
                          });
  EXPECT_EQ(o.exit_code, 0) << o.err;
  return alive > 0 ? static_cast<double>(attached) / alive : -1;
}

// Where the calls cannot be sampled they are counted exactly, and each side says why: perf_event
// counting (bpf(2) refused), and load processes, which report their requests only at the end.
TEST(KernelCounters, SampledFallsBackToExactCountingAndSaysWhy) {
  TempDir dir;
  const Outcome o = run({WITHOUT_BPF_PATH, BENCH_PATH, "--backend=epoll", "--clients=1", "--duration=0.5",
                         "--warmup=0.1", "--counters=sampled", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto perf = read_json(dir.file("r.json"));
  for (const char* side : {"server", "loadgen"}) {
    const auto& s = perf["results"]["kernel_counters"][side];
    if (!s["available"].get<bool>()) GTEST_SKIP() << "perf_event refused here too: " << s.dump(2);
    EXPECT_EQ(s["sampling"]["mode"], "exact") << s.dump(2);
    EXPECT_NE(s["sampling"]["reason"].get<std::string>().find("perf_event"), std::string::npos) << s.dump(2);
    EXPECT_TRUE(s["syscalls_per_request"].is_number()) << s.dump(2);
  }
  EXPECT_NE(o.out.find("counted over the whole window, not sampled"), std::string::npos) << o.out;

  const auto shards = run_json({"--backend=epoll", "--clients=2", "--loadgen-processes=2", "--duration=0.5",
                                "--warmup=0.1", "--counters=sampled"});
  ASSERT_FALSE(shards.is_null());
  const auto& srv = shards["results"]["kernel_counters"]["server"];
  if (!srv["available"].get<bool>()) GTEST_SKIP() << srv.dump(2);
  EXPECT_EQ(srv["sampling"]["mode"], "exact") << srv.dump(2);
  EXPECT_NE(srv["sampling"]["reason"].get<std::string>().find("--loadgen-processes"), std::string::npos) << srv.dump(2);
}

TEST(KernelCounters, SampledCounterIsDetachedBetweenSlices) {
  const double exact = share_of_time_attached("on");
  if (exact <= 0) GTEST_SKIP() << "bench holds no eBPF link to sys_enter here (eBPF refused, or counting at fentry)";
  EXPECT_GT(exact, 0.9) << "exact counting keeps the program attached";
  // 10% of 3 s: 3 slices of 100 ms; attached also while the server starts (before the window).
  const double sampled = share_of_time_attached("sampled:10%");
  EXPECT_GT(sampled, 0.0) << "attached in the slices";
  EXPECT_LT(sampled, 0.4) << "detached between them";
}

// bpf(2) and perf_event_open denied (as a seccomp profile or perf_event_paranoid without
// CAP_PERFMON would): the run goes on; the system calls are null with both reasons, getrusage
// still counts.
TEST(KernelCounters, RefusedKernelTracingLeavesTheRunIntactAndSaysWhy) {
  TempDir dir;
  const Outcome o = run({WITHOUT_KERNEL_TRACING_PATH, BENCH_PATH, "--backend=epoll", "--clients=2", "--duration=0.3",
                         "--warmup=0.1", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(dir.file("r.json"));
  EXPECT_EQ(doc["results"]["errors"], 0);
  for (const char* side : {"server", "loadgen"}) {
    const auto& s = doc["results"]["kernel_counters"][side];
    expect_well_formed(s);
    EXPECT_FALSE(s["available"].get<bool>()) << s.dump(2);
    const std::string reason = s["unavailable_reason"].get<std::string>();
    EXPECT_NE(reason.find("refused"), std::string::npos) << reason;
    EXPECT_NE(reason.find("EACCES"), std::string::npos) << reason;
    EXPECT_NE(reason.find("eBPF: "), std::string::npos) << reason;
    EXPECT_NE(reason.find("perf_event: "), std::string::npos) << reason;
    EXPECT_TRUE(s["syscalls_counted_by"].is_null());
    EXPECT_TRUE(s["syscalls_per_request"].is_null());
    EXPECT_TRUE(s["per_syscall"].empty());
    EXPECT_TRUE(s["context_switches_per_request"].is_number()) << "getrusage needs no perf_event_open";
  }
  EXPECT_NE(o.out.find("not counted"), std::string::npos) << "a note says why: " << o.out;
  EXPECT_TRUE(tagged_processes().empty());
}

// bpf(2) denied (no CAP_BPF, or a container's profile): both sides fall back to perf_event's
// tracepoint events, count the same calls and say which method counted and why.
TEST(KernelCounters, RefusedBpfFallsBackToPerfEventAndSaysSo) {
  TempDir dir;
  const Outcome o = run({WITHOUT_BPF_PATH, BENCH_PATH, "--backend=epoll", "--clients=1", "--duration=1",
                         "--warmup=0.2", "--syscalls", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(dir.file("r.json"));
  for (const char* side : {"server", "loadgen"}) {
    const auto& s = doc["results"]["kernel_counters"][side];
    expect_well_formed(s);
    if (!s["available"].get<bool>()) GTEST_SKIP() << "perf_event refused here too: " << s.dump(2);
    EXPECT_EQ(s["syscalls_counted_by"], "perf_event") << s.dump(2);
    EXPECT_TRUE(s["fentry_refused"].is_null()) << s.dump(2);
    const std::string refused = s["ebpf_refused"].get<std::string>();
    EXPECT_NE(refused.find("EPERM"), std::string::npos) << refused;
  }
  const auto& srv = doc["results"]["kernel_counters"]["server"];
  EXPECT_NEAR(srv["syscalls_per_request"].get<double>(), 3.0, 0.5) << srv.dump(2);
  EXPECT_NEAR(srv["per_syscall"]["recvfrom"]["per_request"].get<double>(), 1.0, 0.2) << srv.dump(2);
  EXPECT_NE(o.out.find("because eBPF was refused"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("(counted by perf_event)"), std::string::npos) << o.out;
}

// `bench --list-counters --json`: the kernel counter table, in order, and the facts the scripts
// read instead of writing them again; the table form names every counter.
TEST(ListCounters, JsonListsTheCounterTableAndTheFacts) {
  const Outcome o = bench({"--list-counters", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const auto listing = nlohmann::json::parse(o.out);
  const auto table = kernel_counter_table();
  ASSERT_EQ(listing["counters"].size(), table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& c = listing["counters"][i];
    EXPECT_EQ(c["name"], table[i].name);
    EXPECT_EQ(c["per_request_field"], table[i].per_request);
    EXPECT_EQ(c["in_table"], table[i].in_table()) << c.dump();
    EXPECT_EQ(c["table_column"].is_string(), table[i].in_table()) << c.dump();
  }
  EXPECT_EQ(listing["facts"]["saturated_fraction"], kSaturatedFraction);
  EXPECT_EQ(listing["facts"]["achieved_rate_tolerance"], kAchievedRateTolerance);
  EXPECT_EQ(listing["facts"]["latency_percentiles"]["p999"], 99.9);
  const Outcome text = bench({"--list-counters"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const KernelCounterRow& counter : table) EXPECT_NE(text.out.find(counter.name), std::string::npos) << counter.name;
  const Outcome bad = bench({"--list-counters", "--csv"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_TRUE(bad.out.empty());
}

}  // namespace
}  // namespace mux::test
