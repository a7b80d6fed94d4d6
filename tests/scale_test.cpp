// Scale and connection handling: 10,000 clients on every backend, idle connections,
// connection churn, and several source addresses.
#include <gtest/gtest.h>

#include "tests/registry_params.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

// The run's JSON when it succeeded with no error; null (and the test fails) otherwise.
nlohmann::json ok_result(const Outcome& o, const TempDir& dir) {
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  if (o.exit_code != 0) return {};
  auto doc = read_json(dir.file("r.json"));
  EXPECT_EQ(doc["results"]["errors"], 0) << doc["results"].dump(2);
  EXPECT_TRUE(doc["complete"].get<bool>());
  return doc;
}

nlohmann::json run_ok(std::vector<std::string> args) {
  TempDir dir;
  args.push_back("--json=" + dir.file("r.json"));
  return ok_result(bench(args), dir);
}

class TenThousandClients : public ::testing::TestWithParam<std::string> {};

TEST_P(TenThousandClients, ServedWithZeroErrors) {
  MUX_SKIP_IF_SLICED_OUT(GetParam());
#if defined(__SANITIZE_THREAD__)
  if (find_backend(GetParam())->capabilities.model == IoModel::blocking) GTEST_SKIP() << "ThreadSanitizer supports at most ~8k threads per process";
#endif
  // Correctness, not speed: with 10,000 threads on one core the first replies can take
  // seconds (under AddressSanitizer, beside a busy core, more than a 2 s window), so a window
  // without a reply is repeated longer (bench_until_replies) until every client can be answered.
  TempDir dir;
  const auto doc = ok_result(bench_until_replies({"--backend=" + GetParam(), "--clients=10000", "--timeout=60",
                                                  "--json=" + dir.file("r.json")},
                                                 2, 2),
                             dir);
  if (doc.is_null()) return;
  const auto& r = doc["results"];
  EXPECT_GE(r["server_counters"]["accepted"].get<std::uint64_t>(), 10000u);
  EXPECT_EQ(r["server_counters"]["accepted"], r["server_counters"]["closed"]);
  EXPECT_GT(r["requests"].get<std::uint64_t>(), 0u);
  EXPECT_GE(r["server_counters"]["requests"].get<std::uint64_t>(), 10000u) << "every client answered at least once";
  EXPECT_TRUE(r["memory"]["server_process"].is_object());
}

INSTANTIATE_TEST_SUITE_P(Backends, TenThousandClients,
                         ::testing::ValuesIn(every_backend()),
                         [](const auto& param_info) { return param_name(param_info.param); });

TEST(Connections, IdleConnectionsStayOpenBesideTheClients) {
  const auto doc = run_ok({"--backend=poll", "--clients=20", "--idle=1500", "--duration=1", "--warmup=0.2"});
  if (doc.is_null()) return;
  EXPECT_EQ(doc["config"]["idle_connections"], 1500);
  EXPECT_EQ(doc["results"]["server_counters"]["accepted"], 1520);
}

TEST(Connections, ChurnReplacesConnectionsAndCountsConnects) {
  for (const std::string& backend : one_backend_per_model()) {
    const auto doc = run_ok({std::string("--backend=") + backend, "--clients=20", "--churn=3", "--duration=1",
                             "--warmup=0.2"});
    if (doc.is_null()) return;
    const auto& r = doc["results"];
    EXPECT_GT(r["connects_per_second"].get<double>(), 100) << backend;
    EXPECT_GT(r["connect_latency_us"]["p50"].get<double>(), 0) << backend;
    // Every connection answers exactly 3 requests, so the server accepted about requests / 3.
    const double accepted = r["server_counters"]["accepted"].get<double>();
    EXPECT_GT(accepted, r["requests"].get<double>() / 3 * 0.9) << backend;
  }
}

TEST(Connections, ExplicitSourceAddresses) {
  const auto doc = run_ok({"--backend=epoll", "--clients=200", "--sources=127.0.0.2,127.0.0.3", "--duration=0.5",
                           "--warmup=0.1"});
  if (doc.is_null()) return;
  EXPECT_EQ(doc["config"]["sources"], "127.0.0.2,127.0.0.3");
}

TEST(Connections, MoreConnectionsThanPortsNeedSourcesOrFail) {
  TempDir dir;
  // 40,000 connections exceed one address's ~28,000 ports: with --sources naming one address
  // that cannot work, and bench says so before starting anything.
  const Outcome o = bench({"--clients=40000", "--sources=127.0.0.1", "--duration=1", "--json=" + dir.file("r.json")});
  EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
  EXPECT_NE(o.err.find("local ports"), std::string::npos) << o.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.json")));
}

}  // namespace
}  // namespace mux::test
