// --protocol=raw against peers that are not muxbench: a plain echo client written here drives
// every backend's `bench serve --protocol=raw`, and `bench load --protocol=raw` drives a plain
// echo server written here. Then `bench --protocol=raw` end to end on every backend.
#include <gtest/gtest.h>

#include "tests/registry_params.hpp"
#include "tests/fault_harness.hpp"
#include "tests/plain_echo_peers.hpp"

namespace mux::test {
namespace {

class RawServe : public ::testing::TestWithParam<std::string> {};

TEST_P(RawServe, APlainEchoClientWithAThousandConnectionsGetsEveryByteBack) {
  constexpr std::size_t kConnections = 1000, kChunk = 700, kRounds = 6;
  MUX_SKIP_IF_SLICED_OUT(GetParam());
  ServeProcess server(GetParam(), "raw");
  if (!server.started()) {
    if (server.start_error().find("unavailable") != std::string::npos) GTEST_SKIP() << server.start_error();
    FAIL() << "bench serve --protocol=raw did not start: " << server.start_error();
  }
  const EchoClientOutcome o = drive_plain_echo(server.port(), kConnections, kChunk, kRounds, std::chrono::seconds(30));
  EXPECT_EQ(o.connected, kConnections);
  EXPECT_EQ(o.mismatched, 0u);
  EXPECT_EQ(o.failed, 0u);
  EXPECT_EQ(o.finished, kConnections) << "connections still waiting for their echo when time ran out";
  EXPECT_EQ(o.bytes_verified, kConnections * kChunk * kRounds);

  const ServeProcess::Stopped stopped = server.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  ASSERT_TRUE(stopped.counters.is_object()) << stopped.out << stopped.err;
  EXPECT_EQ(stopped.counters["accepted"], kConnections) << stopped.counters.dump();
  EXPECT_EQ(stopped.counters["protocol_errors"], 0) << stopped.counters.dump();
  EXPECT_TRUE(stopped.counters["requests"].is_null()) << "raw has no message boundaries: the server cannot count "
                                                         "requests, and must not claim 0: "
                                                      << stopped.counters.dump();
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, RawServe, ::testing::ValuesIn(every_backend()),
                         [](const auto& param_info) { return param_name(param_info.param); });

TEST(RawLoad, DrivesAPlainEchoServerWithoutErrors) {
  TestEchoServer server;
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"load", "--target=" + server.target(), "--protocol=raw", "--message-size=300",
                           "--clients=50", "--pipeline=2", "--duration=1", "--warmup=0.2", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  EXPECT_EQ(r["errors"], 0) << r.dump(2);
  const auto requests = r["requests"].get<std::uint64_t>();
  EXPECT_GT(requests, 0u);
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * 300);
  EXPECT_EQ(doc["config"]["protocol"], "raw");
  EXPECT_EQ(doc["config"]["frame_size"], 300) << "no header travels with a raw message";
}

TEST(RawBench, EveryBackendEndToEnd) {
  TempDir dir;
  const Outcome o = bench_until_replies(
      {"--protocol=raw", "--backend=all", "--clients=100", "--message-size=64", "--json=" + dir.file("r.json")}, 0.2, 0.5);
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  for (const std::string& backend : every_backend()) {
    if (find_backend(backend)->capabilities.opt_in) continue;  // not in `all`
    const std::string path = dir.file("r." + backend + ".json");
    ASSERT_TRUE(std::filesystem::exists(path)) << backend << ": no result\n" << o.out << o.err;
    const auto r = read_json(path)["results"];
    EXPECT_EQ(r["errors"], 0) << backend << ": " << r.dump(2);
    const auto requests = r["requests"].get<std::uint64_t>();
    EXPECT_GT(requests, 100u) << backend;
    EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * 64) << backend;
    EXPECT_TRUE(r["server_counters"]["requests"].is_null()) << backend << ": " << r["server_counters"].dump();
  }
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

TEST(RawBench, RefusesSimulatedWorkItCannotCount) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--protocol=raw", "--work-us=5", "--duration=1"},
                                              std::vector<std::string>{"serve", "--protocol=raw", "--work-us=5"}}) {
    const Outcome o = bench(args);
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_NE(o.err.find("--work-us"), std::string::npos) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
}

}  // namespace
}  // namespace mux::test
