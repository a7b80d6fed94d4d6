// The bottleneck verdict through the real `bench`: a saturated single-threaded server is the
// bottleneck even when it has two cores, and a server bench does not run is never judged.
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/fault_harness.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

constexpr const char* kNotTheServer = "the load generator, not the server";

TEST(Bottleneck, SaturatedSingleLoopServerOnTwoCoresIsTheServer) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two cores";
  // 200 µs of work per request keeps the epoll server's one loop busy with requests always
  // queued, even when other processes take turns on its cores (it then waits, runnable); the
  // load generator, at a few µs per request, is far from saturated though it shares CPU 1.
  TempDir dir;
  const Outcome o = bench({"--backend=epoll", "--server-cpus=0-1", "--server-threads=1", "--client-cpus=1", "--work-us=200",
                           "--clients=50", "--duration=2", "--warmup=0.3", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto r = read_json(dir.file("r.json"))["results"];
  const std::string verdict = r["bottleneck"].get<std::string>();
  EXPECT_NE(verdict, "load_generator") << r.dump(2);
  EXPECT_FALSE(r["loadgen_saturated"].get<bool>());
  EXPECT_EQ(o.out.find(kNotTheServer), std::string::npos) << o.out;
  // The whole server process on two cores reads about half of what its one loop thread does.
  const double busiest = r["server_busiest_thread_utilization"].get<double>();
  const double total = r["server_cpu_utilization"].get<double>();
  EXPECT_GT(busiest, 1.5 * total) << r.dump(2);
  EXPECT_LE(busiest, 1.05) << "one thread cannot use more than one core";
  EXPECT_TRUE(r["loadgen_busiest_thread_utilization"].is_number());
  EXPECT_FALSE(r.contains("server_cpu_unknown_reason")) << r.dump(2);
  // The loop always had work: it ran, or waited on a run queue while other processes (a busy
  // machine) held its core. Either way it had work nearly all the window, and is the limit.
  const double demand = r["server_busiest_thread_demand"].get<double>();
  EXPECT_GE(demand, busiest) << r.dump(2);
  EXPECT_GE(demand, 0.9) << r.dump(2);
  EXPECT_TRUE(verdict == "server" || verdict == "both") << r.dump(2);
}

TEST(Bottleneck, UnknownWhenTheServerIsNotOurs) {
  ServeProcess server("epoll", "echo");
  ASSERT_TRUE(server.started()) << server.start_error();
  TempDir dir;
  const Outcome o = bench({"load", fmt::format("--target=127.0.0.1:{}", server.port()), "--clients=50",
                           "--duration=1", "--warmup=0.2", "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(dir.file("r.json"));
  const auto& r = doc["results"];
  EXPECT_EQ(r["bottleneck"], "unknown");
  EXPECT_FALSE(r["loadgen_saturated"].get<bool>());
  EXPECT_TRUE(r["server_cpu_utilization"].is_null());
  EXPECT_TRUE(r["server_busiest_thread_utilization"].is_null());
  EXPECT_NE(r["server_cpu_unknown_reason"].get<std::string>().find("bench load"), std::string::npos);
  EXPECT_TRUE(r["loadgen_busiest_thread_utilization"].is_number()) << "the load generator is still measured";
  EXPECT_TRUE(r["request_count_check"].is_null());
  EXPECT_NE(r["request_count_check_unknown_reason"].get<std::string>().find("bench load"), std::string::npos);
  for (const auto& w : doc["warnings"]) EXPECT_EQ(w.get<std::string>().find(kNotTheServer), std::string::npos) << w;
  EXPECT_EQ(o.out.find(kNotTheServer), std::string::npos) << o.out;
  EXPECT_EQ(server.stop().exit_code, 0);
}

}  // namespace
}  // namespace mux::test
