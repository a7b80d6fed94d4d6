// Every backend serves real clients through the real `bench`: zero errors, every byte verified,
// and the server's own request count agrees with the client's.
#include <gtest/gtest.h>

#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

struct Case {
  std::string backend;
  int clients;
  int message_size;
  std::string env;  // extra environment for the bench process
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.backend << "/" << c.clients << "x" << c.message_size; }

class BackendServes : public ::testing::TestWithParam<Case> {};

TEST_P(BackendServes, EveryByteVerifiedAndNoErrors) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string json = dir.file("result.json");
  const Outcome o = bench({"--backend=" + c.backend, fmt::format("--clients={}", c.clients),
                           fmt::format("--message-size={}", c.message_size), "--duration=1", "--warmup=0.2",
                           "--json=" + json},
                          {}, c.env.empty() ? std::vector<std::string>{} : std::vector<std::string>{c.env});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_TRUE(doc["complete"].get<bool>());
  EXPECT_EQ(doc["config"]["backend"], c.backend);
  EXPECT_EQ(r["errors"], 0) << r.dump(2);
  const auto requests = r["requests"].get<std::uint64_t>();
  EXPECT_GT(requests, static_cast<std::uint64_t>(c.clients)) << "every client should complete requests";
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * (c.message_size + 4));
  const auto& server = r["server_counters"];
  ASSERT_TRUE(server.is_object()) << "the server reported no counters";
  EXPECT_GE(server["requests"].get<std::uint64_t>(), requests) << "the server answered fewer than the client counted";
  const auto& check = r["request_count_check"];
  ASSERT_TRUE(check.is_object()) << r.dump(2);
  EXPECT_TRUE(check["ok"].get<bool>()) << check.dump();
  EXPECT_EQ(check["server_answered"], server["requests"]);
  EXPECT_GE(check["client_completed"].get<std::uint64_t>(), requests) << "the whole run includes the measured interval";
  EXPECT_LE(check["client_completed"].get<std::uint64_t>(), check["client_sent"].get<std::uint64_t>());
  // One window: throughput is the requests over exactly the measured seconds, and the
  // timeline's seconds hold every one of them.
  EXPECT_DOUBLE_EQ(static_cast<double>(requests) / r["measured_seconds"].get<double>(), r["throughput_rps"].get<double>());
  EXPECT_DOUBLE_EQ(r["measured_seconds"].get<double>(), 1.0) << "a complete run measures exactly --duration";
  std::uint64_t in_timeline = 0;
  for (const auto& second : r["timeline"]) in_timeline += second["requests"].get<std::uint64_t>();
  EXPECT_EQ(in_timeline, requests);
  EXPECT_GE(server["accepted"].get<std::uint64_t>(), static_cast<std::uint64_t>(c.clients));
  EXPECT_EQ(server["accepted"], server["closed"]) << "connections left open when the server stopped";
  EXPECT_EQ(server["protocol_errors"], 0);
  const auto& lat = r["latency_us"];
  EXPECT_GT(lat["p50"].get<double>(), 0);
  EXPECT_LE(lat["p50"].get<double>(), lat["p99"].get<double>());
  EXPECT_LE(lat["p99"].get<double>(), lat["max"].get<double>());
  EXPECT_TRUE(r["server_cpu_us_per_request"].is_number());
  EXPECT_TRUE(r["loadgen_cpu_us_per_request"].is_number());
  EXPECT_TRUE(r["server_busiest_thread_utilization"].is_number()) << r.dump(2);
  EXPECT_TRUE(r["loadgen_busiest_thread_utilization"].is_number()) << r.dump(2);
  EXPECT_EQ(doc["warnings"].dump().find("miscounts"), std::string::npos) << doc["warnings"].dump();
  EXPECT_NE(o.out.find(c.backend), std::string::npos) << "the table names the backend";
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

INSTANTIATE_TEST_SUITE_P(
    HundredClients, BackendServes,
    ::testing::Values(Case{"threads", 100, 128, ""}, Case{"select", 100, 128, ""}, Case{"poll", 100, 128, ""},
                      Case{"epoll", 100, 128, ""}, Case{"io_uring", 100, 128, ""},
                      // single-shot accept and recv: the fallback for kernels without multishot
                      Case{"io_uring", 100, 128, "MUXBENCH_IO_URING_SINGLESHOT=1"}),
    [](const auto& param_info) {
      return param_info.param.backend + (param_info.param.env.empty() ? "" : "_singleshot");
    });

// One-byte messages (many per read) and 256 KiB messages (many reads and short writes per
// message) through every backend.
INSTANTIATE_TEST_SUITE_P(
    MessageSizes, BackendServes,
    ::testing::Values(Case{"threads", 10, 1, ""}, Case{"select", 10, 1, ""}, Case{"poll", 10, 1, ""},
                      Case{"epoll", 10, 1, ""}, Case{"io_uring", 10, 1, ""}, Case{"threads", 8, 262144, ""},
                      Case{"select", 8, 262144, ""}, Case{"poll", 8, 262144, ""}, Case{"epoll", 8, 262144, ""},
                      Case{"io_uring", 8, 262144, ""}),
    [](const auto& param_info) { return fmt::format("{}_{}B", param_info.param.backend, param_info.param.message_size); });

TEST(BackendAll, RunsEveryBackendAndWritesOneFileEach) {
  TempDir dir;
  const Outcome o = bench({"--backend=all", "--clients=20", "--duration=0.3", "--warmup=0.1",
                           "--json=" + dir.file("run-{backend}.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  for (const char* b : {"threads", "select", "poll", "epoll", "io_uring"}) {
    const auto doc = read_json(dir.file(fmt::format("run-{}.json", b)));
    EXPECT_EQ(doc["config"]["backend"], b);
    EXPECT_EQ(doc["results"]["errors"], 0);
    EXPECT_NE(o.out.find(b), std::string::npos);
  }
}

// --work-us: the server burns the asked-for CPU per request (a lower bound: a busy-wait on the
// wall clock can lose time to preemption, so allow a fifth less), and still answers every byte.
TEST(ServerWork, EveryRequestCostsTheServerTheWorkAskedFor) {
  for (const char* backend : {"threads", "epoll", "io_uring"}) {
    SCOPED_TRACE(backend);
    TempDir dir;
    const Outcome o = bench({fmt::format("--backend={}", backend), "--protocol=http", "--clients=10", "--work-us=200",
                             "--duration=0.5", "--warmup=0.1", "--json=" + dir.file("r.json")});
    ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
    const auto doc = read_json(dir.file("r.json"));
    EXPECT_EQ(doc["config"]["server_work_us"], 200.0);
    EXPECT_EQ(doc["results"]["errors"], 0);
    EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 10u);
    EXPECT_GE(doc["results"]["server_cpu_us_per_request"].get<double>(), 160.0);
  }
}

}  // namespace
}  // namespace mux::test

namespace mux::test {
namespace {

// --read-size: every backend receives in reads of the asked-for size (io_uring: provided buffers
// of that size) and still answers 256 KiB messages byte for byte, whether a message takes 64
// reads or 4; the JSON records the size.
TEST(ReadSize, EveryBackendServesLargeMessagesAtEachReadSize) {
  constexpr std::uint64_t kMessage = 262144;
  for (const int read_size : {4096, 65536}) {
    for (const std::string backend : {"threads", "select", "poll", "epoll", "io_uring", "io_uring_singleshot"}) {
      SCOPED_TRACE(fmt::format("{} --read-size={}", backend, read_size));
      const bool single_shot = backend == "io_uring_singleshot";
      TempDir dir;
      const Outcome o =
          bench({"--backend=" + std::string(single_shot ? "io_uring" : backend), "--clients=4",
                 fmt::format("--message-size={}", kMessage), fmt::format("--read-size={}", read_size),
                 "--duration=0.5", "--warmup=0.1", "--json=" + dir.file("r.json")},
                {}, single_shot ? std::vector<std::string>{"MUXBENCH_IO_URING_SINGLESHOT=1"} : std::vector<std::string>{});
      ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
      const auto doc = read_json(dir.file("r.json"));
      EXPECT_EQ(doc["config"]["read_size"], read_size);
      const auto& r = doc["results"];
      EXPECT_EQ(r["errors"], 0) << r.dump(2);
      const auto requests = r["requests"].get<std::uint64_t>();
      EXPECT_GT(requests, 0u);
      EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * (kMessage + 4));
      EXPECT_GE(r["server_counters"]["requests"].get<std::uint64_t>(), requests);
      EXPECT_EQ(r["server_counters"]["protocol_errors"], 0);
      EXPECT_TRUE(tagged_processes().empty());
    }
  }
}

}  // namespace
}  // namespace mux::test
