// An interrupted run stops promptly, keeps its partial results marked incomplete, and leaves
// no server behind.
#include <signal.h>

#include <gtest/gtest.h>

#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

TEST(Interrupted, SigintWritesPartialResultsAndStopsTheServer) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const auto started = std::chrono::steady_clock::now();
  const Outcome o = bench({"--backend=epoll", "--clients=10", "--duration=60", "--warmup=0.2", "--json=" + json},
                          [](pid_t pid) {
                            sleep_ms(1500);
                            ::kill(pid, SIGINT);
                          });
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(15));
  EXPECT_EQ(o.exit_code, 130) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_NE(doc["incomplete_reason"].get<std::string>().find("interrupted"), std::string::npos);
  EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 0u) << "the partial measurement was kept";
  EXPECT_NE(o.out.find("INCOMPLETE"), std::string::npos);
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

TEST(Interrupted, ServerKilledMidRunIsReportedNotHidden) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=poll", "--clients=10", "--duration=60", "--warmup=0.2", "--json=" + json},
                          [](pid_t pid) {
                            sleep_ms(1500);
                            for (pid_t child : children_of(pid)) ::kill(child, SIGKILL);
                          });
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_NE(doc["incomplete_reason"].get<std::string>().find("server"), std::string::npos);
  EXPECT_TRUE(tagged_processes().empty());
}

}  // namespace
}  // namespace mux::test
