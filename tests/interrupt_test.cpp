// An interrupted run stops promptly, keeps its partial results marked incomplete, and leaves
// no server behind, whichever stop signal ended it: SIGINT, SIGTERM or SIGHUP.
#include <signal.h>

#include <cstring>
#include <optional>

#include <gtest/gtest.h>

#include "core/net.hpp"
#include "core/unique_fd.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

// The measured interval ends at the stop: throughput divides exactly the requests counted in it.
void expect_consistent_window(const nlohmann::json& r, double launch_to_signal_s, double warmup_s) {
  const double measured = r["measured_seconds"].get<double>();
  const auto requests = r["requests"].get<std::uint64_t>();
  // The measured interval began after the warm-up, which began after the launch; it ended at
  // most one 20 ms watch period (allow a loaded machine more) after the signal.
  EXPECT_LE(measured, launch_to_signal_s - warmup_s + 0.25) << r.dump(2);
  EXPECT_DOUBLE_EQ(static_cast<double>(requests) / measured, r["throughput_rps"].get<double>());
  std::uint64_t in_timeline = 0;
  for (const auto& second : r["timeline"]) in_timeline += second["requests"].get<std::uint64_t>();
  EXPECT_EQ(in_timeline, requests) << "replies counted outside the measured interval";
  ASSERT_FALSE(r["timeline"].empty());
  EXPECT_DOUBLE_EQ(r["timeline"].back()["t_s"].get<double>(), measured);
  const auto& check = r["request_count_check"];
  ASSERT_TRUE(check.is_object()) << r.dump(2);
  EXPECT_TRUE(check["ok"].get<bool>()) << check.dump();
}

// A server that accepts and never answers: a closed-loop window without a single reply is an
// incomplete run (exit 1, `complete: false` with the reason), not 0 req/s with 0 errors.
TEST(Stalled, AServerThatAnswersNothingIsAnIncompleteRunNotASuccess) {
  UniqueFd listener = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 64);  // never accepts or reads
  const std::uint16_t port = local_address(listener.get()).port();
  TempDir dir;
  const Outcome o = bench({"load", fmt::format("--target=127.0.0.1:{}", port), "--clients=4", "--duration=0.3",
                           "--warmup=0", "--json=" + dir.file("r.json")});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  const auto doc = read_json(dir.file("r.json"));
  EXPECT_EQ(doc["complete"], false);
  EXPECT_NE(doc["incomplete_reason"].get<std::string>().find("no reply arrived"), std::string::npos) << doc.dump(2);
  EXPECT_EQ(doc["results"]["requests"], 0);
  EXPECT_NE(o.out.find("INCOMPLETE"), std::string::npos) << o.out;
}

TEST(Interrupted, SigintWritesPartialResultsAndStopsTheServer) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const auto started = std::chrono::steady_clock::now();
  double launch_to_signal_s = 0;
  const Outcome o = bench({"--backend=epoll", "--clients=10", "--duration=60", "--warmup=0.2", "--json=" + json},
                          [&](pid_t pid) {
                            wait_for_stdout(pid, kTableHeader);
                            sleep_ms(1200);  // 0.2 s of warm-up, then 1 s measured
                            launch_to_signal_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
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
  expect_consistent_window(doc["results"], launch_to_signal_s, 0.2);
}

// Open loop at a low rate: a load thread sleeps between sends, so it notices the stop late;
// replies it handles after the stop must not count.
TEST(Interrupted, OpenLoopStopsCountingAtTheSignal) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const auto started = std::chrono::steady_clock::now();
  double launch_to_signal_s = 0;
  const Outcome o = bench({"--backend=poll", "--clients=10", "--rate=200", "--duration=60", "--warmup=0.2",
                           "--json=" + json},
                          [&](pid_t pid) {
                            wait_for_stdout(pid, kTableHeader);
                            sleep_ms(1400);  // 0.2 s of warm-up, then 1.2 s measured
                            launch_to_signal_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                            ::kill(pid, SIGINT);
                          });
  EXPECT_EQ(o.exit_code, 130) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 0u);
  expect_consistent_window(doc["results"], launch_to_signal_s, 0.2);
  EXPECT_TRUE(tagged_processes().empty());
}

TEST(Interrupted, ServerKilledMidRunIsReportedNotHidden) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=poll", "--clients=10", "--duration=60", "--warmup=0.2", "--json=" + json},
                          [](pid_t pid) {
                            wait_for_stdout(pid, kTableHeader);
                            sleep_ms(1200);
                            for (pid_t child : children_of(pid)) ::kill(child, SIGKILL);
                          });
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_NE(doc["incomplete_reason"].get<std::string>().find("server"), std::string::npos);
  EXPECT_TRUE(tagged_processes().empty());
}

// SIGHUP (a closed terminal or ssh session) stops a run exactly as SIGTERM does: exit 130, the
// partial results written, marked incomplete, nothing left running. Before, SIGHUP killed bench
// and its result was lost.
class StopSignal : public ::testing::TestWithParam<int> {};

TEST_P(StopSignal, KeepsThePartialResultsMarkedIncomplete) {
  const int sig = GetParam();
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=epoll", "--clients=10", "--duration=60", "--warmup=0.2", "--json=" + json},
                          [sig](pid_t pid) {
                            wait_for_stdout(pid, kTableHeader);
                            sleep_ms(700);
                            ::kill(pid, sig);
                          });
  EXPECT_EQ(o.exit_code, 130) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_EQ(doc.value("incomplete_reason", ""), fmt::format("interrupted by signal {} ({})", sig, strsignal(sig)));
  EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 0u) << "the partial measurement was kept";
  EXPECT_NE(o.out.find("INCOMPLETE"), std::string::npos) << o.out;
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

// What `bench serve --port=0` (run by run()) prints it listens on, "127.0.0.1:PORT"; "" if it
// has not said so.
std::string listening_address(pid_t serve) {
  constexpr std::string_view kSays = "listening on ";
  if (!wait_for_stdout(serve, std::string(kSays))) return "";
  char path[4096];
  const ssize_t n = ::readlink(fmt::format("/proc/{}/fd/1", serve).c_str(), path, sizeof path - 1);
  const std::string text = n > 0 ? slurp(std::string(path, static_cast<std::size_t>(n))) : "";
  const auto at = text.find(kSays);
  if (at == std::string::npos) return "";
  const auto from = at + kSays.size();
  return text.substr(from, text.find(' ', from) - from);
}

// `bench load` with load processes: a terminal's hangup reaches bench and its load processes
// alike (one process group); bench coordinates the stop, so every process's results are kept.
TEST(Hangup, OfBenchLoadAndItsLoadProcessesKeepsEveryProcesssResult) {
  const int sig = SIGHUP;
  TempDir dir;
  const std::string json = dir.file("r.json");
  std::optional<Outcome> load;
  const Outcome serve = run({BENCH_PATH, "serve", "--backend=epoll", "--port=0"}, [&](pid_t server) {
    const std::string target = listening_address(server);
    if (!target.empty())
      load = bench({"load", "--target=" + target, "--clients=8", "--loadgen-processes=2", "--duration=60",
                    "--warmup=0.2", "--json=" + json},
                   [sig](pid_t pid) {
                     wait_for_stdout(pid, kTableHeader);
                     sleep_ms(700);
                     for (const pid_t shard : children_of(pid)) ::kill(shard, sig);
                     ::kill(pid, sig);
                   });
    ::kill(server, SIGINT);
  });
  ASSERT_TRUE(load) << "bench serve did not say where it listens: " << serve.out << serve.err;
  EXPECT_EQ(load->exit_code, 130) << load->out << load->err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_EQ(doc.value("incomplete_reason", ""), fmt::format("interrupted by signal {} ({})", sig, strsignal(sig)))
      << "no load process lost";
  ASSERT_EQ(doc["results"]["shards"].size(), 2u) << doc["results"].dump(2);
  for (const auto& shard : doc["results"]["shards"]) {
    EXPECT_TRUE(shard["complete"].get<bool>()) << shard.dump();
    EXPECT_TRUE(shard["requests"].is_number() && shard["requests"].get<std::uint64_t>() > 0) << shard.dump();
  }
  EXPECT_EQ(serve.exit_code, 0) << serve.out << serve.err;
  EXPECT_TRUE(tagged_processes().empty());
}

// `bench serve` stops on it as on SIGINT: its final counters printed, exit 0.
TEST_P(StopSignal, StopsBenchServeCleanly) {
  const int sig = GetParam();
  const Outcome o = run({BENCH_PATH, "serve", "--backend=epoll", "--port=0"}, [sig](pid_t pid) {
    wait_for_stdout(pid, "listening on");
    ::kill(pid, sig);
  });
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("stopped; "), std::string::npos) << o.out;
  EXPECT_TRUE(tagged_processes().empty());
}

INSTANTIATE_TEST_SUITE_P(Signals, StopSignal, ::testing::Values(SIGTERM, SIGHUP),
                         [](const auto& param_info) { return std::string(param_info.param == SIGHUP ? "Sighup" : "Sigterm"); });

}  // namespace
}  // namespace mux::test
