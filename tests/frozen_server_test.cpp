// A frozen server never holds a run hostage: a server stopped with SIGSTOP mid-run is waited on
// at most --timeout + the grace at any point, then killed; the run keeps what it measured,
// marked incomplete with the cause; Ctrl-C still ends the wait at once.
#include <signal.h>

#include <chrono>
#include <optional>

#include <gtest/gtest.h>

#include "harness/system/stop_signals.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// What a busy machine may add to a bound on top of what bench itself waits: the test thread or
// bench scheduled late, the load threads joined, the JSON written.
constexpr double kSchedulingSlackS = 4.0;
// Each run: the window starts 0.3 s after the table header, the server is stopped 0.5 s after
// the header (inside the window), and the window lasts long enough that a late test thread still
// stops it before the window ends.
constexpr double kTimeoutS = 0.5, kWarmupS = 0.3, kDurationS = 2.0, kFreezeAfterHeaderS = 0.5;
// From the freeze to bench's exit: the rest of the window, then one wait on the server (bench
// makes no later ones), on a busy machine.
constexpr double kFreezeToExitBoundS =
    kWarmupS + kDurationS - kFreezeAfterHeaderS + kTimeoutS + kServerGraceS + kSchedulingSlackS;

std::vector<std::string> frozen_run_args(const std::string& server, const std::string& json) {
  return {server, "--clients=20", fmt::format("--warmup={}", kWarmupS), fmt::format("--duration={}", kDurationS),
          fmt::format("--timeout={}", kTimeoutS), "--json=" + json};
}

struct FrozenRun {
  Outcome outcome;
  double freeze_to_exit_s = 0;  // from SIGSTOP to bench's exit
  double signal_to_exit_s = 0;  // from the SIGINT (if any) to bench's exit
  bool froze = false;
};

// Runs bench, SIGSTOPs its server (`group`: the whole process group a --server-cmd runs in)
// 0.5 s after the table header, and with `sigint` sends bench SIGINT 1 s after the window's end,
// while it waits on the frozen server. Whatever is left stopped afterwards is killed by PID.
FrozenRun run_and_freeze(const std::vector<std::string>& args, bool group, bool sigint) {
  FrozenRun r;
  std::optional<pid_t> server;
  Clock::time_point frozen_at, signalled_at;
  r.outcome = bench(args, [&](pid_t pid) {
    if (!wait_for_stdout(pid, kTableHeader)) return;
    const Clock::time_point header = Clock::now();
    sleep_ms(static_cast<int>(kFreezeAfterHeaderS * 1000));
    const std::vector<pid_t> children = children_of(pid);  // its one child: the server (a shell for --server-cmd)
    if (children.size() != 1) return;
    server = children.front();
    r.froze = (group ? ::killpg(*server, SIGSTOP) : ::kill(*server, SIGSTOP)) == 0;
    frozen_at = Clock::now();
    if (!sigint) return;
    const double window_end_s = kWarmupS + kDurationS + 1.0;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, window_end_s - seconds_since(header))));
    signalled_at = Clock::now();
    ::kill(pid, SIGINT);
  });
  r.freeze_to_exit_s = seconds_since(frozen_at);
  r.signal_to_exit_s = seconds_since(signalled_at);
  const std::vector<pid_t> left = tagged_processes();
  EXPECT_TRUE(left.empty()) << "a process was left behind (killed now)";
  for (const pid_t pid : left) {
    ::kill(pid, SIGKILL);
    ::kill(pid, SIGCONT);
  }
  return r;
}

// The run's partial results were kept, and it says it is incomplete and why.
void expect_incomplete_with_results(const Outcome& o, const std::string& json, const std::string& cause) {
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>()) << doc.dump(2);
  const std::string reason = doc.value("incomplete_reason", "");
  EXPECT_NE(reason.find(cause), std::string::npos) << reason;
  EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 0u) << "what was measured before the freeze is kept";
  EXPECT_NE(o.out.find("INCOMPLETE"), std::string::npos) << o.out;
}

// A run whose server was frozen mid-run: killed after --timeout + the grace, exit 1, incomplete.
void expect_killed_after_the_grace(const std::vector<std::string>& args, bool group, const std::string& json) {
  const FrozenRun r = run_and_freeze(args, group, false);
  ASSERT_TRUE(r.froze) << r.outcome.out << r.outcome.err;
  EXPECT_EQ(r.outcome.exit_code, 1) << r.outcome.out << r.outcome.err;
  EXPECT_LT(r.freeze_to_exit_s, kFreezeToExitBoundS);
  expect_incomplete_with_results(r.outcome, json, "stopped or frozen");
}

// The same with Ctrl-C while bench waits on the frozen server: it ends the wait within a second.
void expect_sigint_ends_the_wait(const std::vector<std::string>& args, bool group, const std::string& json) {
  const FrozenRun r = run_and_freeze(args, group, true);
  ASSERT_TRUE(r.froze) << r.outcome.out << r.outcome.err;
  EXPECT_EQ(r.outcome.exit_code, 130) << r.outcome.out << r.outcome.err;
  EXPECT_LT(r.signal_to_exit_s, kSignalledServerWaitS + kSchedulingSlackS);
  expect_incomplete_with_results(r.outcome, json, "interrupted by signal 2");
}

// Before: bench waited 66 s (5 s per control request, 30 s for the final counters, 30 s more
// for the exit), ignored Ctrl-C and reported `complete: true`.
TEST(FrozenServer, IsKilledAfterTimeoutPlusGraceAndTheRunIsIncomplete) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  expect_killed_after_the_grace(frozen_run_args("--backend=epoll", json), false, json);
}

TEST(FrozenServer, SigintWhileBenchWaitsOnItEndsTheRunPromptly) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  expect_sigint_ends_the_wait(frozen_run_args("--backend=epoll", json), false, json);
}

// --server-cmd: its whole group stopped. Before: SIGKILL after a fixed 5 s, SIGINT ignored
// meanwhile, and `complete: true`.
std::string bench_serve_command() {
  return fmt::format("{} serve --backend=epoll --host={{host}} --port={{port}} --server-cpus={{cpus}}", BENCH_PATH);
}

TEST(FrozenServer, ACommandsServerStoppedIsKilledAndTheRunIsIncomplete) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  expect_killed_after_the_grace(frozen_run_args("--server-cmd=" + bench_serve_command(), json), true, json);
}

TEST(FrozenServer, SigintEndsTheWaitOnAStoppedCommandsServer) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  expect_sigint_ends_the_wait(frozen_run_args("--server-cmd=" + bench_serve_command(), json), true, json);
}

}  // namespace
}  // namespace mux::test
