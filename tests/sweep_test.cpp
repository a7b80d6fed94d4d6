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
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "run_id,protocol,backend,clients,message_size,repetition,status,metric,value");
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

TEST(Sweep, BadListsAreRefused) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"sweep", "--clients=1,x", "--out=" + dir.file("a")},
        std::vector<std::string>{"sweep", "--backends=epoll,kqueue", "--out=" + dir.file("b")},
        std::vector<std::string>{"sweep", "--clients=1"}}) {
    const Outcome o = bench(args);
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << o.err;
  }
}

}  // namespace
}  // namespace mux::test
