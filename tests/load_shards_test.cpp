// --loadgen-processes: the load split over several processes, one start barrier, results
// merged exactly. The test merges the shards' histograms itself (from the JSON, counter by
// counter) and computes the percentiles its own way, independently of LatencyHistogram.
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

// The load processes of a running bench (its children running `bench load-shard`).
std::vector<pid_t> load_processes(pid_t bench) {
  std::vector<pid_t> found;
  for (pid_t kid : children_of(bench)) {
    std::string cmdline = slurp(fmt::format("/proc/{}/cmdline", kid));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find("load-shard") != std::string::npos) found.push_back(kid);
  }
  return found;
}

// The sample of rank ceil(p/100 * n) (at least 1), reported as the highest value of its
// counter, capped at the largest sample: LatencyHistogram's documented convention.
double offline_percentile_us(const std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>>& merged,
                             std::uint64_t total, std::uint64_t max_ns, double p) {
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total))));
  std::uint64_t seen = 0;
  for (const auto& [lowest, entry] : merged) {
    seen += entry.second;
    if (seen >= rank) return static_cast<double>(std::min(entry.first, max_ns)) / 1000.0;
  }
  return -1;
}

TEST(LoadProcesses, ThreeProcessesMergeExactly) {
  TempDir dir;
  // Epoll load threads: their recv and send per request show below that the load processes'
  // system calls are counted (tests/loadgen_io_test.cpp checks io_uring's in load processes).
  const Outcome o = bench({"--backend=epoll", "--clients=30", "--loadgen-processes=3", "--loadgen-io=epoll",
                           "--duration=1", "--warmup=0.2", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(dir.file("r.json"));
  const auto& r = doc["results"];
  EXPECT_EQ(doc["config"]["loadgen_processes"], 3);
  EXPECT_EQ(r["errors"], 0) << r.dump(2);
  const auto& shards = r["shards"];
  ASSERT_EQ(shards.size(), 3u) << r.dump(2);
  std::uint64_t requests = 0, clients = 0, max_ns = 0;
  std::set<int> pids;
  // lowest value of a counter -> (highest value, count), added over the shards
  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> merged;
  for (const auto& s : shards) {
    EXPECT_TRUE(s["complete"].get<bool>()) << s.dump();
    EXPECT_EQ(s["clients"], 10) << "30 clients split over 3 processes";
    EXPECT_EQ(s["errors"], 0);
    EXPECT_FALSE(s["host"].get<std::string>().empty());
    EXPECT_GT(s["cpu_us"].get<double>(), 0) << s.dump();
    EXPECT_GT(s["requests"].get<std::uint64_t>(), 0u);
    pids.insert(s["pid"].get<int>());
    requests += s["requests"].get<std::uint64_t>();
    clients += s["clients"].get<std::uint64_t>();
    max_ns = std::max(max_ns, s["latency_max_ns"].get<std::uint64_t>());
    std::uint64_t shard_count = 0;
    for (const auto& c : s["latency_histogram_ns"]) {
      auto& entry = merged[c[0].get<std::uint64_t>()];
      entry.first = c[1].get<std::uint64_t>();
      entry.second += c[2].get<std::uint64_t>();
      shard_count += c[2].get<std::uint64_t>();
    }
    EXPECT_EQ(shard_count, s["requests"].get<std::uint64_t>()) << "one latency per request measured";
  }
  EXPECT_EQ(pids.size(), 3u) << "three distinct processes";
  EXPECT_EQ(clients, 30u);
  EXPECT_EQ(r["requests"].get<std::uint64_t>(), requests) << "merged count = sum of the shards'";
  const auto& latency = r["latency_us"];
  EXPECT_EQ(latency["max"].get<double>(), static_cast<double>(max_ns) / 1000.0);
  for (const auto& [key, p] : std::vector<std::pair<std::string, double>>{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}})
    EXPECT_EQ(latency[key].get<double>(), offline_percentile_us(merged, requests, max_ns, p)) << key;
  // The server saw every one of them: the cross-check covers all processes.
  EXPECT_TRUE(r["request_count_check"]["ok"].get<bool>()) << r["request_count_check"].dump();
  // One measured window for all: its per-second timeline adds the processes' seconds.
  std::uint64_t in_timeline = 0;
  for (const auto& second : r["timeline"]) in_timeline += second["requests"].get<std::uint64_t>();
  EXPECT_EQ(in_timeline, requests);
  // The load processes' system calls are counted (bench's own process alone makes almost
  // none: at least a send and a receive per request show they are covered); getrusage's
  // context switches cannot be: null with the reason, never 0.
  const auto& loadgen = r["kernel_counters"]["loadgen"];
  if (loadgen["syscalls_per_request"].is_null())
    EXPECT_FALSE(loadgen["unavailable"]["syscalls_per_request"].get<std::string>().empty()) << loadgen.dump();
  else
    EXPECT_GT(loadgen["syscalls_per_request"].get<double>(), 1.0) << loadgen.dump();
  EXPECT_TRUE(loadgen["context_switches_per_request"].is_null()) << loadgen.dump();
  EXPECT_NE(loadgen["unavailable"]["context_switches_per_request"].get<std::string>().find("--loadgen-processes=3"),
            std::string::npos)
      << loadgen.dump();
  EXPECT_TRUE(tagged_processes().empty());
}

// Past one process's open-files limit (20,000 here): 25,000 clients need 2 load processes and
// 2 server processes. Sources apart from 127.0.0.1, whose ports earlier tests leave in
// TIME_WAIT.
TEST(LoadProcesses, TwentyFiveThousandClientsOverTwoProcessesEachSide) {
  TempDir dir;
  const Outcome o = bench({"--backend=epoll", "--clients=25000", "--loadgen-processes=2", "--server-processes=2",
                           "--duration=1", "--warmup=0.5", "--timeout=30",  // connecting 25,000 takes seconds
                           "--sources=127.0.0.21,127.0.0.22,127.0.0.23",
                           "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto r = read_json(dir.file("r.json"))["results"];
  EXPECT_EQ(r["errors"], 0) << r["errors_by_kind"].dump();
  ASSERT_EQ(r["shards"].size(), 2u);
  std::uint64_t requests = 0;
  for (const auto& s : r["shards"]) {
    EXPECT_EQ(s["clients"], 12500);
    requests += s["requests"].get<std::uint64_t>();
  }
  EXPECT_GT(requests, 0u);
  EXPECT_EQ(r["requests"].get<std::uint64_t>(), requests);
  // Memory per connection covers both load processes: each grew by its connections.
  for (const auto& s : r["shards"]) EXPECT_GT(s["memory_bytes"].get<double>(), 0) << s.dump();
  EXPECT_GE(r["memory"]["loadgen_process"]["bytes"].get<double>(),
            r["shards"][0]["memory_bytes"].get<double>() + r["shards"][1]["memory_bytes"].get<double>() -
                1024.0 * 1024.0)  // the parent's own growth may be slightly negative
      << r["memory"].dump();
  EXPECT_TRUE(tagged_processes().empty());
}

TEST(LoadProcesses, RemaindersAreSpreadOverTheFirstProcesses) {
  TempDir dir;
  const Outcome o = bench({"--backend=epoll", "--clients=7", "--loadgen-processes=3", "--rate=700", "--duration=0.5",
                           "--warmup=0.1", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto r = read_json(dir.file("r.json"))["results"];
  std::vector<int> clients;
  for (const auto& s : r["shards"]) clients.push_back(s["clients"].get<int>());
  EXPECT_EQ(clients, (std::vector<int>{3, 2, 2}));
  EXPECT_EQ(r["errors"], 0);
  // The rate splits with the clients: the total is the one asked for (within 20%: 350 requests).
  EXPECT_NEAR(r["throughput_rps"].get<double>(), 700.0, 140.0) << r.dump(2).substr(0, 2000);
}

// The load processes get the target as bench has it: a Unix socket too (its address went
// over the pipe as "unix:PATH", which the receiving side once read as HOST:PORT and failed).
TEST(LoadProcesses, LoadProcessesReachAUnixSocketServer) {
  TempDir dir;
  const Outcome o = bench({"--backend=epoll", "--transport=unix", "--clients=4", "--loadgen-processes=2",
                           "--duration=0.3", "--warmup=0", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(dir.file("r.json"));
  EXPECT_TRUE(doc["config"]["server_address"].get<std::string>().starts_with("unix:")) << doc["config"].dump();
  const auto& r = doc["results"];
  ASSERT_EQ(r["shards"].size(), 2u) << r.dump(2).substr(0, 2000);
  for (const auto& s : r["shards"]) EXPECT_GT(s["requests"].get<std::uint64_t>(), 0u) << s.dump();
  EXPECT_EQ(r["errors"], 0);
  EXPECT_TRUE(tagged_processes().empty());
}

TEST(LoadProcesses, BadCountsAreRefused) {
  for (const std::string flag : {"--loadgen-processes=0", "--loadgen-processes=11"}) {
    const Outcome o = bench({"--backend=epoll", "--clients=10", flag, "--duration=0.2"});
    EXPECT_EQ(o.exit_code, 2) << flag << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_NE(o.err.find("--loadgen-processes"), std::string::npos) << o.err;
  }
  const Outcome load = bench({"load", "--target=127.0.0.1:9", "--clients=2", "--loadgen-processes=3"});
  EXPECT_EQ(load.exit_code, 2) << load.err;
  EXPECT_NE(load.err.find("use at most --loadgen-processes=2"), std::string::npos) << load.err;
  EXPECT_TRUE(tagged_processes().empty());
}

TEST(LoadProcesses, AKilledLoadProcessEndsTheRunIncomplete) {
  TempDir dir;
  const auto started = std::chrono::steady_clock::now();
  pid_t killed = 0;
  const Outcome o = bench({"--backend=epoll", "--clients=30", "--loadgen-processes=3", "--duration=20", "--warmup=0.2",
                           "--json=" + dir.file("r.json")},
                          [&](pid_t bench) {
                            // Once the run is under way, kill one load process.
                            wait_for_stdout(bench, kTableHeader);
                            sleep_ms(700);  // 0.2 s of warm-up, then 0.5 s measured
                            if (const auto kids = load_processes(bench); kids.size() == 3) {
                              killed = kids[1];
                              ::kill(killed, SIGKILL);
                            }
                          });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_NE(killed, 0) << "no load process was seen";
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_LT(took, 15.0) << "the run went on without its killed load process";
  const auto doc = read_json(dir.file("r.json"));
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_NE(doc["incomplete_reason"].get<std::string>().find(fmt::format("pid {}", killed)), std::string::npos)
      << doc["incomplete_reason"];
  std::size_t incomplete = 0;
  for (const auto& s : doc["results"]["shards"]) incomplete += s["complete"].get<bool>() ? 0 : 1;
  EXPECT_EQ(incomplete, 1u) << doc["results"]["shards"].dump();
  EXPECT_TRUE(tagged_processes().empty());
}

TEST(LoadProcesses, CtrlCReapsEveryLoadProcess) {
  const Outcome o = bench({"--backend=epoll", "--clients=20", "--loadgen-processes=2", "--duration=20", "--warmup=0.2"},
                          [](pid_t bench) {
                            for (int i = 0; i < 200 && load_processes(bench).size() < 2; ++i) sleep_ms(20);
                            sleep_ms(500);
                            ::kill(bench, SIGINT);
                          });
  EXPECT_EQ(o.exit_code, 130) << o.err;
  EXPECT_TRUE(tagged_processes().empty()) << "a load process was left running";
}

}  // namespace
}  // namespace mux::test
