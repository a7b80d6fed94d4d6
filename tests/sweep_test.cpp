// `bench sweep`: a tiny real grid completes, every output format is there and well-formed,
// and running it again resumes instead of measuring twice.
#include <gtest/gtest.h>

#include <regex>

#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

TEST(Sweep, TinyGridCompletesWritesEveryFormatAndResumes) {
  TempDir dir;
  const std::string out = dir.file("sweep");
  const std::vector<std::string> args = {"sweep", "--backends=epoll,poll", "--clients=1,20", "--repetitions=2",
                                         "--duration=1", "--warmup=0.2", "--seed=7", "--out=" + out};
  const Outcome first = bench(args);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;

  const auto plan = read_json(out + "/sweep.json");
  EXPECT_EQ(plan["seed"], 7);
  ASSERT_EQ(plan["runs"].size(), 8u);
  std::set<int> orders;
  for (const auto& r : plan["runs"]) {
    EXPECT_EQ(r["status"], "complete") << r.dump();
    orders.insert(r["order"].get<int>());
    EXPECT_TRUE(std::filesystem::exists(out + "/" + r["file"].get<std::string>()));
  }
  EXPECT_EQ(orders.size(), 8u);

  const auto summary = read_json(out + "/summary.json");
  ASSERT_EQ(summary["configurations"].size(), 4u);
  for (const auto& c : summary["configurations"]) {
    const auto& t = c["throughput_rps"];
    EXPECT_EQ(t["n"], 2);
    EXPECT_LE(t["ci_low"].get<double>(), t["median"].get<double>());
    EXPECT_GE(t["ci_high"].get<double>(), t["median"].get<double>());
    // Two repetitions: the range, which holds the median with probability 1 - 2 * (1/2)^2.
    EXPECT_DOUBLE_EQ(t["ci_coverage"].get<double>(), 0.5);
    EXPECT_FALSE(t.contains("ci95_low"));
    EXPECT_EQ(c["errors"]["median"], 0);
  }

  // Google Benchmark's shape: per-repetition iterations plus aggregates, names compare.py pairs.
  const auto gb = read_json(out + "/benchmark.json");
  ASSERT_TRUE(gb.contains("context"));
  std::size_t iterations = 0, aggregates = 0;
  const std::regex name(R"(echo/(epoll|poll)/clients:(1|20)/msg:128(_(mean|median|stddev|cv))?)");
  for (const auto& b : gb["benchmarks"]) {
    EXPECT_TRUE(std::regex_match(b["name"].get<std::string>(), name)) << b["name"];
    EXPECT_EQ(b["time_unit"], "ns");
    EXPECT_GT(b["real_time"].get<double>(), 0);
    (b["run_type"] == "iteration" ? iterations : aggregates)++;
  }
  EXPECT_EQ(iterations, 8u);
  EXPECT_EQ(aggregates, 16u);

  const auto bmf = read_json(out + "/bmf.json");
  ASSERT_TRUE(bmf.contains("echo/epoll/clients:20/msg:128"));
  const auto& tp = bmf["echo/epoll/clients:20/msg:128"]["throughput"];
  EXPECT_LE(tp["lower_value"].get<double>(), tp["value"].get<double>());
  EXPECT_GE(tp["upper_value"].get<double>(), tp["value"].get<double>());
  EXPECT_DOUBLE_EQ(tp["ci_coverage"].get<double>(), 0.5);

  const std::string csv = slurp(out + "/results.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "run_id,protocol,backend,clients,message_size,rate,repetition,status,metric,value");
  EXPECT_NE(csv.find(",throughput_rps,"), std::string::npos);

  // Again with the same flags: nothing left to measure, so it returns at once.
  const auto started = std::chrono::steady_clock::now();
  const Outcome second = bench(args);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_NE(second.out.find("8 complete"), std::string::npos) << second.out;

  // A different grid in the same directory is refused, not mixed in.
  const Outcome other = bench({"sweep", "--backends=epoll", "--clients=1", "--out=" + out});
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.err.find("different sweep"), std::string::npos) << other.err;
}

// --rates: the closed-loop runs go first, and each percentage is of the median closed-loop
// throughput its configuration measured, computed here from the runs' own JSON.
TEST(Sweep, RatesArePercentagesOfTheClosedLoopCapacityMeasuredFirst) {
  TempDir dir;
  const std::string out = dir.file("sweep");
  const Outcome r = bench({"sweep", "--backends=epoll", "--clients=4", "--rates=50%,2000", "--repetitions=2",
                           "--duration=0.4", "--warmup=0.1", "--seed=3", "--out=" + out});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto plan = read_json(out + "/sweep.json");
  ASSERT_EQ(plan["runs"].size(), 6u);
  EXPECT_EQ(plan["rates"], nlohmann::json::array({"", "50%", "2000"}));
  std::vector<double> closed;
  int last_closed = -1, first_open = 1 << 30;
  for (const auto& run : plan["runs"]) {
    ASSERT_EQ(run["status"], "complete") << run.dump();
    const auto doc = read_json(out + "/" + run["file"].get<std::string>());
    if (run["rate"].is_null()) {
      closed.push_back(doc["results"]["throughput_rps"].get<double>());
      last_closed = std::max(last_closed, run["order"].get<int>());
    } else {
      first_open = std::min(first_open, run["order"].get<int>());
    }
  }
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_LT(last_closed, first_open);
  const double half_capacity = (closed[0] + closed[1]) / 2 * 0.5;  // the median of two
  for (const auto& run : plan["runs"]) {
    if (run["rate"].is_null()) continue;
    const auto doc = read_json(out + "/" + run["file"].get<std::string>());
    const double rate = doc["config"]["rate"];
    if (run["rate"] == "50%") {
      EXPECT_NEAR(rate, half_capacity, 1e-6 * half_capacity) << run["id"];
      EXPECT_NE(run["id"].get<std::string>().find("-q50pct-"), std::string::npos);
    } else {
      EXPECT_DOUBLE_EQ(rate, 2000);
    }
  }
  const auto summary = read_json(out + "/summary.json");
  ASSERT_EQ(summary["configurations"].size(), 3u);
  for (const auto& c : summary["configurations"])
    EXPECT_EQ(c["target_rps"].is_null(), c["rate"].is_null()) << c.dump();
}

// --capacity: each run is a capacity search; the summary carries its capacity.
TEST(Sweep, CapacityRunsASearchPerConfiguration) {
  TempDir dir;
  const std::string out = dir.file("sweep");
  const Outcome r = bench({"sweep", "--backends=epoll", "--clients=4", "--capacity=p99<=20ms", "--repetitions=1",
                           "--duration=0.3", "--warmup=0.1", "--max-probes=4", "--out=" + out});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("capacity req/s"), std::string::npos) << r.out;
  const auto plan = read_json(out + "/sweep.json");
  ASSERT_EQ(plan["runs"].size(), 1u);
  const auto doc = read_json(out + "/" + plan["runs"][0]["file"].get<std::string>());
  EXPECT_EQ(doc["kind"], "capacity");
  EXPECT_LE(doc["results"]["probes"].size(), 4u);
  const auto summary = read_json(out + "/summary.json");
  EXPECT_DOUBLE_EQ(summary["configurations"][0]["capacity_rps"]["median"].get<double>(),
                   doc["results"]["capacity_rps"].get<double>());
}

TEST(Sweep, BadListsAreRefused) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"sweep", "--clients=1,x", "--out=" + dir.file("a")},
        std::vector<std::string>{"sweep", "--backends=epoll,kqueue", "--out=" + dir.file("b")},
        std::vector<std::string>{"sweep", "--clients=1"},
        std::vector<std::string>{"sweep", "--rates=50%,fast", "--out=" + dir.file("c")},
        std::vector<std::string>{"sweep", "--rates=0", "--out=" + dir.file("d")},
        std::vector<std::string>{"sweep", "--rates=50%", "--rate=100", "--out=" + dir.file("e")},
        std::vector<std::string>{"sweep", "--capacity=p99", "--out=" + dir.file("f")},
        std::vector<std::string>{"sweep", "--capacity=p99<=1ms", "--rates=50%", "--out=" + dir.file("g")}}) {
    const Outcome o = bench(args);
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << o.err;
  }
}

}  // namespace
}  // namespace mux::test
