// Drawn message sizes and drawn server work through the real `bench`: every byte of every
// drawn size verified, pipelined and open loop too, and short and long requests told apart.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "tests/plain_echo_peers.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

// The size of request `seq` of `connection` for --message-size=uniform:A-B under --seed,
// written out here from the documented draw (splitmix64 finalizer, top 53 bits, rounded):
// not the code under test.
std::uint64_t uniform_size(std::uint64_t seed, std::uint64_t connection, std::uint64_t seq, double a, double b) {
  const auto mix = [](std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const double u = static_cast<double>(mix(mix(mix(seed ^ 0x5851f42d4c957f2dULL) + connection) + seq) >> 11) * 0x1.0p-53;
  return static_cast<std::uint64_t>(std::round(a + u * (b - a)));
}

TEST(DrawnSizes, BytesVerifiedIsTheSumOfTheDrawnSizes) {
  // One connection, one request in flight, no warm-up: the measured requests are exactly its
  // requests 0..n-1, so the bytes verified can be summed request by request.
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=epoll", "--clients=1", "--message-size=uniform:1-3000", "--seed=7",
                           "--warmup=0", "--duration=0.5", "--counters=off", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  ASSERT_EQ(r["errors"], 0) << r.dump(2);
  const auto requests = r["requests"].get<std::uint64_t>();
  ASSERT_GT(requests, 0u);
  std::uint64_t expected = 0;
  for (std::uint64_t seq = 0; seq < requests; ++seq) expected += 4 + uniform_size(7, 0, seq, 1, 3000);
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), expected);
  EXPECT_TRUE(doc["config"]["message_size"].is_null());
  EXPECT_TRUE(doc["config"]["frame_size"].is_null());
  EXPECT_EQ(doc["config"]["message_size_spec"], "uniform:1-3000");
  EXPECT_EQ(doc["config"]["seed"], 7);
  EXPECT_NE(o.out.find("echo, uniform:1-3000 B messages"), std::string::npos) << o.out;
  // The work is fixed (0): no classes, and a reason.
  EXPECT_TRUE(r["latency_by_work_class"].is_null());
  EXPECT_TRUE(r["latency_by_work_class_unknown_reason"].is_string());
}

struct Load {
  std::string name;
  std::vector<std::string> args;
  int header;  // bytes each frame adds to its payload
};
void PrintTo(const Load& l, std::ostream* os) { *os << l.name; }

class DrawnSizesUnder : public ::testing::TestWithParam<Load> {};

TEST_P(DrawnSizesUnder, EveryByteVerifiedWithinTheDrawnBounds) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  std::vector<std::string> args = {"--backend=epoll", "--clients=10", "--message-size=uniform:1-3000",
                                   "--warmup=0.1", "--duration=1", "--counters=off", "--json=" + json};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  const Outcome o = bench(args);
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  ASSERT_EQ(r["errors"], 0) << r.dump(2);
  const auto n = r["requests"].get<double>();
  ASSERT_GT(n, 0);
  const auto verified = r["bytes_verified"].get<double>();
  const int h = GetParam().header;
  EXPECT_GE(verified, n * (1 + h));
  EXPECT_LE(verified, n * (3000 + h));
  // The mean size is (1 + 3000) / 2; its standard error over n requests is 866 / sqrt(n).
  EXPECT_NEAR(verified / n - h, 1500.5, 6 * 866 / std::sqrt(n)) << n << " requests";
}

INSTANTIATE_TEST_SUITE_P(Loads, DrawnSizesUnder,
                         ::testing::Values(Load{"echo_pipelined", {"--pipeline=4"}, 4},
                                           Load{"raw_pipelined", {"--protocol=raw", "--pipeline=4"}, 0},
                                           Load{"echo_open_loop", {"--rate=2000", "--arrival=poisson"}, 4}),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(DrawnWork, ShortAndLongRequestsAreToldApart) {
  // 90% of the requests take no work, 10% take 2 ms: the median (0) splits them.
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=epoll", "--clients=10", "--work-us=bimodal:0.9:0:2000", "--warmup=0.2",
                           "--duration=2", "--counters=off", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  ASSERT_EQ(r["errors"], 0) << r.dump(2);
  EXPECT_TRUE(doc["config"]["server_work_us"].is_null());
  EXPECT_EQ(doc["config"]["server_work_spec"], "bimodal:0.9:0:2000");
  const auto& by_class = r["latency_by_work_class"];
  ASSERT_TRUE(by_class.is_object()) << r.dump(2);
  EXPECT_EQ(by_class["split_us"], 0.0);
  const auto shorts = by_class["short"]["requests"].get<double>(), longs = by_class["long"]["requests"].get<double>();
  const auto n = r["requests"].get<double>();
  EXPECT_EQ(shorts + longs, n);
  ASSERT_GT(longs, 0);
  // A fraction 0.9 of n: standard error sqrt(0.09 / n).
  EXPECT_NEAR(shorts / n, 0.9, 6 * std::sqrt(0.09 / n)) << shorts << " short of " << n;
  // A long request costs the server 2 ms before its reply: the client's long class is the
  // server's long work only if the two sides draw alike.
  EXPECT_GE(by_class["long"]["min"].get<double>(), 2000.0) << by_class.dump(2);
  EXPECT_GE(by_class["long"]["p50"].get<double>(), 2000.0);
  EXPECT_NE(o.out.find("short (work <= 0 µs)"), std::string::npos) << o.out;
}

// Nothing about drawn sizes or work goes over the wire beyond echo's own frames: a plain echo
// server (the tests' own, sharing no code with muxbench) is a valid peer. It does no work, so
// the classes only count requests here, about 90/10.
TEST(DrawnWork, APlainEchoServerIsStillAValidPeer) {
  TestEchoServer server;
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"load", "--target=" + server.target(), "--message-size=uniform:1-2000",
                           "--work-us=bimodal:0.9:0:2000", "--clients=10", "--pipeline=2", "--duration=1",
                           "--warmup=0.2", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  ASSERT_EQ(r["errors"], 0) << r.dump(2);
  const auto n = r["requests"].get<double>();
  ASSERT_GT(n, 0);
  EXPECT_GE(r["bytes_verified"].get<double>(), n * (1 + 4));
  EXPECT_LE(r["bytes_verified"].get<double>(), n * (2000 + 4));
  const auto& by_class = r["latency_by_work_class"];
  ASSERT_TRUE(by_class.is_object()) << r.dump(2);
  EXPECT_NEAR(by_class["short"]["requests"].get<double>() / n, 0.9, 6 * std::sqrt(0.09 / n));
  EXPECT_EQ(doc["config"]["server_work_spec"], "bimodal:0.9:0:2000");
}

}  // namespace
}  // namespace mux::test
