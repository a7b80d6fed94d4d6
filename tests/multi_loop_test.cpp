// Several loops and several server processes (--server-threads, --server-processes, --accept):
// every multi-loop entry of the registry, in each accept design it has, serves clients with
// every byte verified, and each loop is reported in results.server_loops.
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "tests/registry_params.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

constexpr int kClients = 64;

struct LoopCase {
  std::string backend;
  AcceptMode accept;
};

void PrintTo(const LoopCase& c, std::ostream* os) { *os << c.backend << "/" << accept_mode_name(c.accept); }

std::vector<LoopCase> every_multi_loop_case() {
  std::vector<LoopCase> cases;
  for (const auto& entry : backend_registry())
    for (const AcceptMode mode : {AcceptMode::reuseport, AcceptMode::shared, AcceptMode::handoff})
      if (entry.capabilities.multi_loop && (entry.capabilities.accept_modes & accept_mode_bit(mode)))
        cases.push_back({std::string(entry.name), mode});
  return cases;
}

// Runs `bench` with `extra` flags; returns the JSON after the checks every multi-loop run shares:
// no errors, every byte verified, the server's loops add up to its totals.
nlohmann::json run_and_check(const std::string& backend, const std::vector<std::string>& extra,
                             std::size_t expected_loops) {
  TempDir dir;
  std::vector<std::string> args = {"--backend=" + backend, fmt::format("--clients={}", kClients), "--message-size=128",
                                   "--duration=0.3", "--warmup=0.1", "--json=" + dir.file("r.json")};
  args.insert(args.end(), extra.begin(), extra.end());
  const Outcome o = bench(args);
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  if (o.exit_code != 0) return {};
  auto doc = read_json(dir.file("r.json"));
  const auto& r = doc["results"];
  EXPECT_EQ(r["errors"], 0) << r.dump(2);
  const auto requests = r["requests"].get<std::uint64_t>();
  EXPECT_GT(requests, 0u);
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * (128 + 4));
  const auto& loops = r["server_loops"];
  EXPECT_TRUE(loops.is_array()) << r.dump(2);
  if (!loops.is_array()) return {};
  EXPECT_EQ(loops.size(), expected_loops) << loops.dump(2);
  std::uint64_t accepted = 0, answered = 0;
  for (const auto& loop : loops) {
    accepted += loop["accepted"].get<std::uint64_t>();
    answered += loop["requests"].get<std::uint64_t>();
    EXPECT_TRUE(loop["cpu_seconds"].is_number()) << loop.dump();
    EXPECT_TRUE(loop["pid"].get<int>() > 0) << loop.dump();
  }
  const auto& server = r["server_counters"];
  EXPECT_EQ(accepted, server["accepted"].get<std::uint64_t>()) << "the loops' accepts add up to the server's";
  EXPECT_EQ(answered, server["requests"].get<std::uint64_t>()) << "the loops' requests add up to the server's";
  EXPECT_GE(accepted, static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(server["accepted"], server["closed"]) << "connections left open when the server stopped";
  EXPECT_GE(answered, requests) << "the server answered fewer than the client counted";
  EXPECT_TRUE(r["server_cpu_us_per_request"].is_number()) << r.dump(2);
  EXPECT_TRUE(r["server_busiest_thread_utilization"].is_number()) << r.dump(2);
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
  return doc;
}

std::string spread(const nlohmann::json& loops) {
  std::string s;
  for (const auto& loop : loops) s += fmt::format(" {}/{}", loop["accepted"].get<std::uint64_t>(), loop["requests"].get<std::uint64_t>());
  return s;
}

class MultiLoop : public ::testing::TestWithParam<LoopCase> {};

// Two loops in one process. reuseport: 64 connections hashed over two listeners leave one empty
// with probability 2^-63; handoff: the acceptor gives each to the loop with the fewest, so both
// get half. shared: which loop accepts is the kernel's wake-up order (EPOLLEXCLUSIVE wakes the
// last waiter first; plain epoll wakes all and the first to run takes the backlog), and both
// loops share one core here, so one loop may get every connection: the total is asserted and
// the spread only reported.
TEST_P(MultiLoop, TwoLoopsServeAndEachIsReported) {
  const LoopCase& c = GetParam();
  MUX_SKIP_IF_SLICED_OUT(c.backend);
  const auto doc = run_and_check(c.backend, {"--server-threads=2", fmt::format("--accept={}", accept_mode_name(c.accept))}, 2);
  if (doc.is_null()) return;
  EXPECT_EQ(doc["config"]["server_threads"], 2);
  EXPECT_EQ(doc["config"]["server_processes"], 1);
  EXPECT_EQ(doc["config"]["accept"], accept_mode_name(c.accept));
  const auto& loops = doc["results"]["server_loops"];
  RecordProperty("accepted_requests_per_loop", spread(loops));
  std::set<int> loop_indexes;
  for (const auto& loop : loops) {
    loop_indexes.insert(loop["loop"].get<int>());
    EXPECT_EQ(loop["pid"], loops[0]["pid"]) << "one process";
    if (c.accept != AcceptMode::shared) {
      EXPECT_GT(loop["accepted"].get<std::uint64_t>(), 0u) << loops.dump(2);
    }
  }
  EXPECT_EQ(loop_indexes, (std::set<int>{0, 1}));
  if (c.accept == AcceptMode::handoff) {
    for (const auto& loop : loops) EXPECT_EQ(loop["accepted"].get<std::uint64_t>(), kClients / 2) << "fewest open first";
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, MultiLoop, ::testing::ValuesIn(every_multi_loop_case()), [](const auto& param_info) {
  return fmt::format("{}_{}", param_name(param_info.param.backend), accept_mode_name(param_info.param.accept));
});

// Two worker processes of one loop each (nginx's model): each serves connections, and the
// server's CPU, its busiest thread and its system calls cover the workers (the first process
// only waits: counted alone, a request would cost it next to nothing).
TEST(ServerProcesses, TwoWorkersServeAndTheirCpuIsCounted) {
  for (const std::string backend : {"epoll", "io_uring"}) {
    SCOPED_TRACE(backend);
    const auto doc = run_and_check(backend, {"--server-processes=2", "--server-threads=1"}, 2);
    if (doc.is_null()) continue;
    const auto& r = doc["results"];
    const auto& loops = r["server_loops"];
    EXPECT_NE(loops[0]["pid"], loops[1]["pid"]) << "two processes";
    for (const auto& loop : loops) EXPECT_GT(loop["accepted"].get<std::uint64_t>(), 0u) << loops.dump(2);
    EXPECT_GT(r["server_cpu_us_per_request"].get<double>(), 0.3) << "a request costs the server a recv and a send";
    // The first process's threads wake every 50 ms and for bench's questions: ~0.01% of a core.
    EXPECT_GT(r["server_busiest_thread_utilization"].get<double>(), 0.001) << "a worker's loop thread is read";
    const auto& kernel = r["kernel_counters"]["server"];
    // Only the workers receive: the first process makes no recv and no io_uring_enter.
    const char* worker_syscall = backend == std::string("epoll") ? "recvfrom" : "io_uring_enter";
    if (kernel.is_object() && kernel["per_syscall"].is_object() && kernel["per_syscall"].contains(worker_syscall)) {
      EXPECT_GT(kernel["per_syscall"][worker_syscall]["count"].get<std::uint64_t>(), 0u)
          << "the workers' system calls are counted: " << kernel.dump(2);
    }
    if (kernel.is_object() && kernel.contains("context_switches_per_request")) {
      EXPECT_TRUE(kernel["context_switches_per_request"].is_null()) << "getrusage sees one process: not counted, not 0";
    }
  }
}

// --accept with one loop is allowed: reuseport and shared are then the one listener, handoff is
// an acceptor thread and one loop, and the JSON says which ran.
TEST(MultiLoopOneLoop, AcceptWithOneLoopRunsAsAsked) {
  const auto doc = run_and_check("epoll", {"--server-threads=1", "--accept=handoff"}, 1);
  if (doc.is_null()) return;
  EXPECT_EQ(doc["config"]["accept"], "handoff");
  EXPECT_EQ(doc["results"]["server_loops"][0]["accepted"], kClients);
}

// `bench serve` alone: Ctrl-C (SIGINT to the process group, as a terminal sends it) stops every
// worker, and nothing is left running.
TEST(ServerProcesses, ServeStopsEveryWorkerOnSigint) {
  const Outcome o = run({BENCH_PATH, "serve", "--backend=epoll", "--server-processes=2", "--server-threads=1"},
                        [](pid_t pid) {
                          for (int i = 0; i < 200 && children_of(pid).size() < 2; ++i) sleep_ms(10);
                          EXPECT_EQ(children_of(pid).size(), 2u) << "two workers";
                          ::kill(pid, SIGINT);
                        });
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("\"loops\""), std::string::npos) << o.out;
  EXPECT_TRUE(tagged_processes().empty()) << "a worker was left running";
}

struct BadShape {
  std::string name;
  std::vector<std::string> args;
  std::string mentions;
};

void PrintTo(const BadShape& b, std::ostream* os) { *os << b.name; }

class RejectsBadShape : public ::testing::TestWithParam<BadShape> {};

// One line naming the problem and the fix, exit 2, nothing on stdout, no file, nothing running;
// `bench serve` refuses the same with its own one line.
TEST_P(RejectsBadShape, OneLineExitTwoNothingLeft) {
  const BadShape& b = GetParam();
  TempDir dir;
  auto args = b.args;
  args.push_back("--duration=1");
  args.push_back("--json=" + dir.file("r.json"));
  for (const bool serve : {false, true}) {
    SCOPED_TRACE(serve ? "bench serve" : "bench");
    std::vector<std::string> command = serve ? std::vector<std::string>{BENCH_PATH, "serve"} : std::vector<std::string>{};
    if (b.args.front() == "/usr/bin/prlimit") {
      if (serve) continue;  // the fd check is about the clients: bench's
      command = {b.args[0], b.args[1], BENCH_PATH};
    } else if (!serve) {
      command = {BENCH_PATH};
    }
    for (const auto& a : args)
      if (a != "/usr/bin/prlimit" && !a.starts_with("--nofile") && !(serve && (a.starts_with("--duration") || a.starts_with("--json") || a.starts_with("--clients"))))
        command.push_back(a);
    const Outcome o = run(command);
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "exactly one line on stderr, got:\n" << o.err;
    EXPECT_NE(o.err.find(b.mentions), std::string::npos) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("r.json")));
    EXPECT_TRUE(tagged_processes().empty()) << "a process was left running";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Flags, RejectsBadShape,
    ::testing::Values(
        BadShape{"threads_above_4_per_cpu", {"--server-cpus=0", "--server-threads=5"}, "more than 4 per server CPU"},
        BadShape{"processes_above_4_per_cpu", {"--server-cpus=0", "--server-processes=5"}, "--server-processes=5 is more"},
        BadShape{"threads_backend_several_loops", {"--backend=threads", "--server-threads=2"}, "--server-threads does not apply"},
        BadShape{"threads_backend_processes", {"--backend=threads", "--server-processes=2"}, "--server-processes does not apply"},
        BadShape{"threads_backend_accept", {"--backend=threads", "--accept=shared"}, "--accept does not apply"},
        BadShape{"exclusive_one_loop", {"--backend=epoll+exclusive", "--server-threads=1"}, "several loops sharing one listener"},
        BadShape{"exclusive_reuseport", {"--backend=epoll+exclusive", "--server-threads=2", "--accept=reuseport"},
                 "no design for --accept=reuseport; use --accept=shared"},
        BadShape{"exclusive_handoff", {"--backend=epoll+exclusive", "--server-threads=2", "--accept=handoff"},
                 "no design for --accept=handoff"},
        BadShape{"unknown_accept", {"--accept=roundrobin"}, "--accept"},
        // 8 x 8 loops on two CPUs: 64 reuseport listeners and their pipes in the first process,
        // more than an fd limit of 200 holds, while the 10 clients alone would fit.
        BadShape{"processes_beyond_fd_limit",
                 {"/usr/bin/prlimit", "--nofile=200:200", "--server-cpus=0-1", "--client-cpus=0-1", "--clients=10",
                  "--server-processes=8", "--server-threads=8"},
                 "open files"}),
    [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace mux::test
