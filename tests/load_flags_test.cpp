// The load's flags, bound from LoadConfig's field list: each sets its field, refuses what its
// check refuses, and shows in --help as it did when each was written by hand.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness/results/run_reporters.hpp"
#include "harness/spec/options.hpp"

namespace mux {
namespace {

std::optional<RunOptions> parse_bench(std::vector<std::string> args, int& exit_code) {
  args.insert(args.begin(), "bench");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_run_options(static_cast<int>(args.size()), argv.data(), exit_code, run_output_flags());
}

TEST(LoadFlags, EachFlagOfTheListSetsItsField) {
  int code = -1;
  const auto o = parse_bench({"--protocol=raw", "--clients=7", "--message-size=uniform:2-9", "--pipeline=3",
                              "--rate=250.5", "--arrival=poisson", "--seed=11", "--idle=4", "--churn=6",
                              "--duration=1.5", "--warmup=0.25", "--timeout=2", "--loadgen-threads=5"},
                             code);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(code, 0);
  EXPECT_EQ(o->load.protocol, "raw");
  EXPECT_EQ(o->load.clients, 7u);
  EXPECT_EQ(o->load.message_size.to_string(), "uniform:2-9");
  EXPECT_EQ(o->load.pipeline, 3u);
  EXPECT_EQ(o->load.rate, 250.5);
  EXPECT_EQ(o->load.arrival, LoadConfig::Arrival::poisson);
  EXPECT_EQ(o->load.seed, 11u);
  EXPECT_EQ(o->load.idle, 4u);
  EXPECT_EQ(o->load.churn, 6u);
  EXPECT_EQ(o->load.duration_s, 1.5);
  EXPECT_EQ(o->load.warmup_s, 0.25);
  EXPECT_EQ(o->load.timeout_s, 2);
  EXPECT_EQ(o->load.threads, 5u);
}

TEST(LoadFlags, ValuesOutsideTheirChecksAreRefused) {
  for (const char* bad : {"--clients=0", "--clients=10000001", "--clients=-1", "--message-size=uniform:0-9",
                          "--message-size=uniform:1.5-9", "--pipeline=1025", "--rate=nan", "--rate=-1",
                          "--arrival=bursty", "--seed=-1", "--idle=-1", "--churn=1000000001", "--duration=0",
                          "--warmup=inf", "--timeout=0", "--loadgen-threads=0", "--protocol=ftp"}) {
    int code = -1;
    EXPECT_FALSE(parse_bench({bad}, code).has_value()) << bad;
    EXPECT_EQ(code, 2) << bad;
  }
}

// As --help showed them when each flag was written by hand (CLI11: NAME TYPE:CHECK=DEFAULT).
TEST(LoadFlags, HelpShowsEachCheckAndDefault) {
  int code = -1;
  testing::internal::CaptureStdout();
  EXPECT_FALSE(parse_bench({"--help"}, code).has_value());
  const std::string help = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0);
  for (const char* line : {"--protocol TEXT:{echo,http,raw}=echo\n", "--clients UINT:INT in [1 - 10000000]=100\n",
                           "--message-size TEXT:N, uniform:A-B, exp:MEAN or bimodal:P:A:B, from 1 to 1048576=128\n",
                           "--rate FLOAT:FLOAT in [0 - 1e+09]=0\n", "--arrival TEXT:{constant,poisson}=constant\n",
                           "--seed UINT:UINT:0..18446744073709551615=1\n", "--duration FLOAT:FLOAT in [0.01 - 86400]=10\n",
                           "--loadgen-threads UINT:INT in [1 - 1024]\n"})
    EXPECT_NE(help.find(line), std::string::npos) << line << "in:\n" << help;
}

}  // namespace
}  // namespace mux
