// --loadgen-io: the load generator's two I/O models do the same work. Against the same server
// they verify the same bytes and count the same requests (every backend, echo/raw/HTTP), keep
// an open-loop rate, keep every feature of the load (pipelining, churn, idle connections,
// large and drawn messages, Unix sockets, IPv6, load processes); io_uring asked for where it
// is denied is refused, and the default falls back to epoll, saying why.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/registry_params.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

const std::vector<std::string> kModels = {"epoll", "io_uring"};

// A run's JSON, or null (with the failure reported) when bench did not exit 0.
nlohmann::json run_json(std::vector<std::string> args, Outcome* outcome = nullptr) {
  TempDir dir;
  args.push_back("--json=" + dir.file("r.json"));
  const Outcome o = bench(args);
  if (outcome != nullptr) *outcome = o;
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  return o.exit_code == 0 ? read_json(dir.file("r.json")) : nlohmann::json();
}

// 10 requests a second, constant arrivals over 2 connections: one due every 100 ms from the
// start. The window [50 ms, 1050 ms) then holds the ten due at 100 ... 1000 ms when each is
// answered within 50 ms; a stall of the machine may move one reply across an edge, so the
// count is 10 ± 1: a count fixed by the schedule, not by how fast either side is.
constexpr const char* kRate = "--rate=10";
constexpr double kRequestsInWindow = 10;

class BothModels : public ::testing::TestWithParam<std::string> {};

// Each model verifies every byte of every request it counts, and its counts agree with the
// server's (request_count_check: sent, completed and answered, with what was in flight).
TEST_P(BothModels, VerifyEveryByteAndAgreeWithTheServer) {
  const std::string& backend = GetParam();
  MUX_SKIP_IF_SLICED_OUT(backend);
  for (const std::string protocol : {"echo", "raw", "http"}) {
    for (const std::string& model : kModels) {
      SCOPED_TRACE(protocol + " on " + model);
      const auto doc = run_json({"--backend=" + backend, "--protocol=" + protocol, "--loadgen-io=" + model,
                                 "--clients=2", kRate, "--warmup=0.05", "--duration=1", "--counters=off"});
      ASSERT_FALSE(doc.is_null());
      EXPECT_EQ(doc["config"]["loadgen_io"], model);
      EXPECT_TRUE(doc["config"]["loadgen_io_fallback"].is_null());
      const auto& r = doc["results"];
      const auto requests = r["requests"].get<std::uint64_t>();
      EXPECT_NEAR(static_cast<double>(requests), kRequestsInWindow, 1) << r.dump(2);
      EXPECT_EQ(r["errors"], 0) << r.dump(2);
      if (protocol == "echo") {
        EXPECT_EQ(r["bytes_verified"], requests * (128 + 4));
      } else if (protocol == "raw") {
        EXPECT_EQ(r["bytes_verified"], requests * 128);
      } else {
        EXPECT_TRUE(r["request_count_check"]["ok"].get<bool>()) << r.dump(2);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, BothModels, ::testing::ValuesIn(every_backend()),
                         [](const auto& param) { return param_name(param.param); });

// The achieved rate is within 5% of the target on both, from 5/s up. Each rate's window holds a
// whole number of its schedule's steps, so the count is the schedule's; at 5/s the window is
// 20 requests, so that a stall moving one reply across an edge stays within the 5%.
TEST(LoadgenIo, OpenLoopKeepsItsRateOnBoth) {
  struct Step {
    double rate;
    int clients;
    double duration_s;
  };
  for (const std::string& model : kModels) {
    for (const Step& s : {Step{5, 5, 4}, Step{200, 10, 1}, Step{2000, 20, 1}}) {
      SCOPED_TRACE(fmt::format("{} at {}/s", model, s.rate));
      const auto doc = run_json({"--backend=epoll", "--loadgen-io=" + model, fmt::format("--rate={}", s.rate),
                                 fmt::format("--clients={}", s.clients), "--warmup=0.1",
                                 fmt::format("--duration={}", s.duration_s), "--counters=off"});
      ASSERT_FALSE(doc.is_null());
      const auto& r = doc["results"];
      EXPECT_EQ(r["errors"], 0) << r.dump(2);
      EXPECT_NEAR(r["throughput_rps"].get<double>(), s.rate, 0.05 * s.rate) << r.dump(2);
      EXPECT_TRUE(doc["warnings"].empty()) << doc["warnings"].dump();
    }
  }
}

// The closed loop's features on both: several requests in flight, connections replaced every
// 50 requests, silent ones beside them, messages that take several receives and short sends.
TEST(LoadgenIo, PipelineChurnIdleAndLargeMessagesOnBoth) {
  constexpr std::uint64_t kMessage = 70'000;
  for (const std::string& model : kModels) {
    SCOPED_TRACE(model);
    const auto doc = run_json({"--backend=epoll", "--loadgen-io=" + model, "--clients=8", "--pipeline=4",
                               "--churn=50", "--idle=20", fmt::format("--message-size={}", kMessage), "--warmup=0.1",
                               "--duration=0.5", "--counters=off"});
    ASSERT_FALSE(doc.is_null());
    const auto& r = doc["results"];
    EXPECT_EQ(r["errors"], 0) << r.dump(2);
    const auto requests = r["requests"].get<std::uint64_t>();
    EXPECT_GT(requests, 0u);
    EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * (kMessage + 4));
    EXPECT_GT(r["connects_per_second"].get<double>(), 0) << r.dump(2);
    EXPECT_TRUE(r["request_count_check"]["ok"].get<bool>()) << r.dump(2);
  }
}

// Drawn sizes (each request its own header), a Unix socket and IPv6 on io_uring.
TEST(LoadgenIo, DrawnSizesUnixSocketsAndIpv6OnIoUring) {
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--message-size=uniform:1-3000", "--pipeline=3"},
        std::vector<std::string>{"--transport=unix"}, std::vector<std::string>{"--host=::1"}}) {
    std::vector<std::string> args = {"--backend=epoll", "--loadgen-io=io_uring", "--clients=10", "--warmup=0.1",
                                     "--duration=0.3", "--counters=off"};
    args.insert(args.end(), extra.begin(), extra.end());
    SCOPED_TRACE(extra.front());
    const auto doc = run_json(args);
    ASSERT_FALSE(doc.is_null());
    const auto& r = doc["results"];
    EXPECT_EQ(r["errors"], 0) << r.dump(2);
    EXPECT_GT(r["requests"].get<std::uint64_t>(), 0u);
    EXPECT_TRUE(r["request_count_check"]["ok"].get<bool>()) << r.dump(2);
  }
}

// Load processes run the model they are told (it travels in their config): one client each,
// closed loop, counted exactly, an epoll thread makes a recv, a send and an epoll_pwait2 per
// request (3), an io_uring one a single io_uring_enter (1).
TEST(LoadgenIo, LoadProcessesRunTheModelTheyAreTold) {
  for (const std::string& model : kModels) {
    SCOPED_TRACE(model);
    const auto doc = run_json({"--backend=epoll", "--loadgen-io=" + model, "--loadgen-processes=2", "--clients=2",
                               "--warmup=0.1", "--duration=0.5", "--counters=on"});
    ASSERT_FALSE(doc.is_null());
    EXPECT_EQ(doc["config"]["loadgen_io"], model);
    EXPECT_EQ(doc["results"]["errors"], 0);
    const auto& gen = doc["results"]["kernel_counters"]["loadgen"];
    if (!gen["syscalls_per_request"].is_number()) GTEST_SKIP() << "system calls not counted here: " << gen.dump(2);
    const double calls = gen["syscalls_per_request"].get<double>();
    if (model == "epoll") {
      EXPECT_GT(calls, 2.5) << gen.dump(2);
    } else {  // at least one wait per reply of a lone connection; bench's own process adds ~nothing
      EXPECT_GT(calls, 0.8) << gen.dump(2);
      EXPECT_LT(calls, 1.5) << gen.dump(2);
    }
  }
}

// Where io_uring_setup is denied (seccomp), --loadgen-io=io_uring is refused in one line, exit
// 2; not asked for, the load runs on epoll and the table and the JSON say why.
TEST(LoadgenIo, DeniedIoUringIsRefusedWhenAskedForAndFallsBackOtherwise) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome refused = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "--backend=epoll", "--loadgen-io=io_uring",
                               "--duration=0.2", "--json=" + json});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  EXPECT_NE(refused.err.find("--loadgen-io=io_uring: io_uring is unavailable here"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("choose --loadgen-io=epoll"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(json));

  const Outcome fell_back = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "--backend=epoll", "--clients=2",
                                 "--warmup=0", "--duration=0.2", "--counters=off", "--json=" + json});
  ASSERT_EQ(fell_back.exit_code, 0) << fell_back.out << fell_back.err;
  const auto doc = read_json(json);
  EXPECT_EQ(doc["config"]["loadgen_io"], "epoll");
  EXPECT_NE(doc["config"]["loadgen_io_fallback"].get<std::string>().find("io_uring_setup"), std::string::npos);
  EXPECT_EQ(doc["results"]["errors"], 0);
  EXPECT_NE(fell_back.out.find(" on epoll); latency in"), std::string::npos) << fell_back.out;
  EXPECT_NE(fell_back.out.find("epoll: load generator on epoll, not io_uring: io_uring is unavailable here"),
            std::string::npos)
      << fell_back.out;
  EXPECT_TRUE(tagged_processes().empty());
}

// Where io_uring runs, it is the default: the header and the JSON say so, and nothing fell back.
TEST(LoadgenIo, IoUringIsTheDefaultWhereItRuns) {
  Outcome o;
  const auto doc = run_json({"--backend=epoll", "--clients=2", "--warmup=0", "--duration=0.2", "--counters=off"}, &o);
  ASSERT_FALSE(doc.is_null());
  if (!doc["config"]["loadgen_io_fallback"].is_null())
    GTEST_SKIP() << "io_uring cannot run here: " << doc["config"]["loadgen_io_fallback"];
  EXPECT_EQ(doc["config"]["loadgen_io"], "io_uring");
  EXPECT_NE(o.out.find(" on io_uring); latency in"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("not io_uring"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace mux::test
