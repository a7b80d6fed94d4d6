// Bad input gets one line naming the problem and the fix, exit status 2, no result file and no
// server process left behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <sstream>

#include <gtest/gtest.h>

#include "core/unique_fd.hpp"
#include "tests/registry_params.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

void expect_rejected(const Outcome& o, const std::string& json, const std::string& mentions) {
  EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
  ASSERT_FALSE(o.err.empty());
  EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "exactly one line on stderr, got:\n" << o.err;
  EXPECT_NE(o.err.find(mentions), std::string::npos) << o.err;
  EXPECT_FALSE(std::filesystem::exists(json)) << "a result file was written";
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

struct BadFlag {
  std::string name;
  std::vector<std::string> args;
  std::string mentions;
};

void PrintTo(const BadFlag& f, std::ostream* os) { *os << f.name; }

class RejectsBadFlag : public ::testing::TestWithParam<BadFlag> {};

TEST_P(RejectsBadFlag, OneLineExitTwoNothingLeft) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  auto args = GetParam().args;
  auto sets = [&](const std::string& flag) {
    return std::any_of(args.begin(), args.end(), [&](const std::string& a) { return a.starts_with(flag); });
  };
  if (!sets("--json")) args.push_back("--json=" + json);
  if (!sets("--duration")) args.push_back("--duration=1");  // brief, were the bad flag accepted
  const Outcome o = bench(args);
  expect_rejected(o, json, GetParam().mentions);
  EXPECT_TRUE(o.out.empty()) << "nothing on stdout, got:\n" << o.out;
}

INSTANTIATE_TEST_SUITE_P(
    Flags, RejectsBadFlag,
    ::testing::Values(BadFlag{"unknown_backend", {"--backend=kqueue"}, "--backend"},
                      BadFlag{"zero_clients", {"--clients=0"}, "--clients"},
                      BadFlag{"negative_clients", {"--clients=-5"}, "--clients"},
                      BadFlag{"clients_over_fd_limit", {"--clients=5000000"}, "open files"},
                      BadFlag{"zero_message_size", {"--message-size=0"}, "--message-size"},
                      BadFlag{"message_too_large", {"--message-size=2097152"}, "--message-size"},
                      BadFlag{"zero_duration", {"--duration=0"}, "--duration"},
                      BadFlag{"not_local", {"--host=192.0.2.1"}, "not an address of this machine"},
                      BadFlag{"missing_cpu", {"--server-cpus=4000"}, "CPU"},
                      BadFlag{"unknown_flag", {"--frobnicate"}, "frobnicate"},
                      BadFlag{"json_dir_missing", {"--json=/nonexistent/dir/r.json"}, "/nonexistent/dir"}),
    [](const auto& param_info) { return param_info.param.name; });

// CLI11's Range lets NaN through (every comparison with it is false): each floating-point flag
// refuses NaN and infinities itself, in `bench` and `bench load` alike.
INSTANTIATE_TEST_SUITE_P(
    NonFinite, RejectsBadFlag,
    ::testing::Values(BadFlag{"duration_nan", {"--duration=nan"}, "--duration"},
                      BadFlag{"duration_inf", {"--duration=inf"}, "--duration"},
                      BadFlag{"rate_inf", {"--rate=inf"}, "--rate"},
                      BadFlag{"rate_nan", {"--rate=nan"}, "--rate"},
                      BadFlag{"warmup_nan", {"--warmup=nan"}, "--warmup"},
                      BadFlag{"timeout_minus_inf", {"--timeout=-inf"}, "--timeout"},
                      BadFlag{"timeout_nan", {"--timeout=NaN"}, "--timeout"},
                      BadFlag{"work_us_nan", {"--work-us=nan"}, "--work-us"},
                      BadFlag{"load_duration_nan", {"load", "--target=127.0.0.1:9", "--duration=nan"}, "--duration"},
                      BadFlag{"load_rate_nan", {"load", "--target=127.0.0.1:9", "--rate=nan"}, "--rate"},
                      BadFlag{"read_size_too_small", {"--read-size=100"}, "--read-size"},
                      BadFlag{"read_size_too_large", {"--read-size=1073741824"}, "--read-size"},
                      BadFlag{"hgrm_dir_missing", {"--hgrm=/nonexistent-dir/x.hgrm"}, "/nonexistent-dir"}),
    [](const auto& param_info) { return param_info.param.name; });

// --message-size and --work-us take a distribution (core/distribution.hpp): a malformed one, or
// one with values out of the flag's range, names the flag and the accepted forms.
constexpr const char* kForms = "N, uniform:A-B, exp:MEAN or bimodal:P:A:B";
INSTANTIATE_TEST_SUITE_P(
    Distributions, RejectsBadFlag,
    ::testing::Values(BadFlag{"size_uniform_one_bound", {"--message-size=uniform:5"}, kForms},
                      BadFlag{"size_exp_negative", {"--message-size=exp:-1"}, kForms},
                      BadFlag{"size_bimodal_p_above_one", {"--message-size=bimodal:2:1:3"}, kForms},
                      BadFlag{"size_unknown_name", {"--message-size=foo:1"}, kForms},
                      BadFlag{"size_uniform_reaches_zero", {"--message-size=uniform:0-10"}, "--message-size"},
                      BadFlag{"size_uniform_above_1mib", {"--message-size=uniform:1-2000000"}, "--message-size"},
                      BadFlag{"size_bimodal_zero", {"--message-size=bimodal:0.5:0:100"}, "--message-size"},
                      BadFlag{"size_exp_mean_above_1mib", {"--message-size=exp:2000000"}, "--message-size"},
                      BadFlag{"size_not_whole", {"--message-size=uniform:1.5-10"}, "whole numbers"},
                      BadFlag{"work_uniform_reversed", {"--work-us=uniform:10-5"}, kForms},
                      BadFlag{"work_exp_negative", {"--work-us=exp:-1"}, kForms},
                      BadFlag{"work_bimodal_two_numbers", {"--work-us=bimodal:0.5:3"}, kForms},
                      BadFlag{"work_above_range", {"--work-us=uniform:0-2000000"}, "--work-us"},
                      BadFlag{"work_drawn_with_http", {"--protocol=http", "--work-us=exp:100"}, "--protocol=echo"},
                      BadFlag{"work_drawn_with_raw", {"--protocol=raw", "--work-us=exp:100"}, "no framing"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(RejectsBadInput, ServeRefusesMalformedOrHttpDrawnWork) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--work-us=foo:1"}, {"--work-us=bimodal:2:1:3"}, {"--protocol=http", "--work-us=exp:10"}}) {
    SCOPED_TRACE(args.back());
    std::vector<std::string> argv = {"serve", "--backend=epoll"};
    argv.insert(argv.end(), args.begin(), args.end());
    const Outcome o = bench(argv);
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << o.err;
    EXPECT_NE(o.err.find("--work-us"), std::string::npos) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
}

// An unwritable --hgrm was found only when the run had ended, and its results were lost: it is
// refused before the server starts, as --json is.
TEST(RejectsBadInput, UnwritableHgrmBeforeAnythingRuns) {
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"--backend=epoll"}, std::vector<std::string>{"load", "--target=127.0.0.1:9"}}) {
    TempDir dir;
    const std::string json = dir.file("r.json");
    auto args = command;
    for (const char* a : {"--duration=30", "--warmup=0"}) args.emplace_back(a);
    args.push_back("--hgrm=/nonexistent-dir/x.hgrm");
    args.push_back("--json=" + json);
    const auto started = std::chrono::steady_clock::now();
    const Outcome o = bench(args);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "refused only after a run";
    expect_rejected(o, json, "--hgrm=/nonexistent-dir/x.hgrm");
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
}

// `bench sweep` refuses bad values of its own flags and of those it passes to every run before
// it runs anything or makes its output directory.
TEST(RejectsBadInput, SweepRefusesNonFiniteFlagsBeforeRunning) {
  for (const char* flag : {"--duration=nan", "--warmup=inf", "--rate=inf", "--timeout=-inf", "--work-us=nan",
                           "--read-size=1"}) {
    SCOPED_TRACE(flag);
    TempDir dir;
    const std::string out = dir.file("sweep");
    const auto started = std::chrono::steady_clock::now();
    const Outcome o = bench({"sweep", "--backends=epoll", "--clients=1", "--repetitions=1", "--out=" + out, flag});
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "exactly one line on stderr, got:\n" << o.err;
    const std::string name = std::string(flag).substr(0, std::string(flag).find('='));
    EXPECT_NE(o.err.find(name), std::string::npos) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
    EXPECT_FALSE(std::filesystem::exists(out)) << "the sweep made its directory";
    EXPECT_TRUE(tagged_processes().empty());
  }
}

TEST(RejectsBadInput, PortInUse) {
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(holder.get(), 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  for (const std::string& backend : one_backend_per_model()) {
    TempDir dir;
    const std::string json = dir.file("r.json");
    const Outcome o = bench({std::string("--backend=") + backend, fmt::format("--port={}", port), "--duration=1",
                             "--json=" + json});
    expect_rejected(o, json, "in use");
  }
}

TEST(RejectsBadInput, IoUringUnavailable) {
  // io_uring_setup denied by a seccomp filter, as with kernel.io_uring_disabled=2 or in a
  // container that blocks it.
  // Every completion entry (io_uring and its variants) and `bench serve`: one line that names
  // the backend, the problem and the fix.
  const std::vector<std::string> backends = backends_of(IoModel::completion);
  ASSERT_FALSE(backends.empty());
  const std::string first = backends.front();
  for (const std::string& backend : backends) {
    SCOPED_TRACE(backend);
    TempDir dir;
    const std::string json = dir.file("r.json");
    const Outcome o = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "--backend=" + backend, "--duration=1", "--json=" + json});
    expect_rejected(o, json, "io_uring");
    EXPECT_NE(o.err.find("--backend=" + backend + ":"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("choose another --backend"), std::string::npos) << o.err;
  }
  // `all` is every backend that can run here: the others run, each completion entry in `all`
  // is skipped with its reason.
  {
    TempDir dir;
    const Outcome all = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "--backend=all", "--clients=2", "--duration=0.2",
                             "--warmup=0", "--json=" + dir.file("r-{backend}.json")});
    ASSERT_EQ(all.exit_code, 0) << all.out << all.err;
    for (const auto& entry : backend_registry()) {
      const std::string name(entry.name);
      if (entry.capabilities.opt_in) continue;
      const bool completion = entry.capabilities.model == IoModel::completion;
      EXPECT_EQ(std::filesystem::exists(dir.file("r-" + name + ".json")), !completion) << name;
      if (completion) {
        EXPECT_NE(all.out.find(name + " skipped: --backend=" + name + ": "), std::string::npos) << all.out;
      }
    }
  }
  const Outcome serve = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "serve", "--backend=" + first});
  EXPECT_EQ(serve.exit_code, 2) << serve.out << serve.err;
  EXPECT_EQ(std::count(serve.err.begin(), serve.err.end(), '\n'), 1) << serve.err;
  EXPECT_TRUE(tagged_processes().empty());
}

// `all` skips a backend the flags do not fit, but when they fit none: one line, exit 2.
TEST(RejectsBadInput, AllWhenTheFlagsFitNoBackend) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=all", "--server-cpus=0", "--server-threads=9", "--duration=1", "--json=" + json});
  expect_rejected(o, json, "--backend=all: no backend can run here with these flags");
  EXPECT_TRUE(o.out.empty()) << o.out;
}

// `bench --list-backends --json`: every registry entry, in order, with its facts and whether it
// runs here; with io_uring denied, the completion entries say so and why.
TEST(ListBackends, JsonListsTheRegistryAndWhyAnEntryCannotRunHere) {
  const Outcome o = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "--list-backends", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const auto list = nlohmann::json::parse(o.out);
  ASSERT_EQ(list.size(), backend_registry().size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const BackendEntry& entry = backend_registry()[i];
    const auto& e = list[i];
    EXPECT_EQ(e["name"], entry.name);
    EXPECT_EQ(e["base"], entry.base);
    EXPECT_EQ(e["model"], io_model_name(entry.capabilities.model));
    const bool completion = entry.capabilities.model == IoModel::completion;
    EXPECT_EQ(e["available"], !completion) << e.dump();
    EXPECT_EQ(e["unavailable_reason"].is_string(), completion) << e.dump();
    EXPECT_EQ(e["opt_in"], entry.capabilities.opt_in) << e.dump();
  }
  const Outcome table = bench({"--list-backends"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const auto& entry : backend_registry()) EXPECT_NE(table.out.find(entry.name), std::string::npos) << entry.name;
  const Outcome bad = bench({"--list-backends", "--csv"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_TRUE(bad.out.empty());
}

// `bench serve` names its cores --server-cpus, as `bench` does; --cpus, its old name, still works.
TEST(ServeFlags, ServerCpusAndItsOldNameCpusPinTheServer) {
  cpu_set_t allowed;
  ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;
  for (const char* flag : {"--server-cpus", "--cpus"}) {
    SCOPED_TRACE(flag);
    UniqueFd probe(::socket(AF_INET, SOCK_STREAM, 0));  // a free port, released for the server
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    probe.reset();
    std::string pinned_to;
    const Outcome o = bench({"serve", "--backend=epoll", fmt::format("--port={}", ntohs(addr.sin_port)),
                             fmt::format("{}={}", flag, cpu)},
                            [&](pid_t pid) {
                              // Served: its loop runs, so it has said "listening" (a connect alone
                              // succeeds once the socket listens, before the loop is set up).
                              for (int i = 0; i < 500; ++i) {
                                UniqueFd c(::socket(AF_INET, SOCK_STREAM, 0));
                                const timeval wait{.tv_sec = 2, .tv_usec = 0};
                                ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
                                const char request[] = {0, 0, 0, 1, 'x'};  // echo: 4-byte length, payload
                                char reply[sizeof request];
                                if (::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                                    ::send(c.get(), request, sizeof request, MSG_NOSIGNAL) == sizeof request &&
                                    ::recv(c.get(), reply, sizeof reply, MSG_WAITALL) == sizeof reply)
                                  break;
                                sleep_ms(10);
                              }
                              std::istringstream status(slurp(fmt::format("/proc/{}/status", pid)));
                              for (std::string line; std::getline(status, line);)
                                if (line.starts_with("Cpus_allowed_list:")) pinned_to = line.substr(line.find_last_of(" \t") + 1);
                              ::kill(pid, SIGTERM);
                            });
    EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
    EXPECT_NE(o.out.find("listening"), std::string::npos) << o.out;
    EXPECT_EQ(pinned_to, std::to_string(cpu));
  }
}

TEST(RejectsBadInput, ServeRefusesNonFiniteWorkAndBadReadSize) {
  for (const char* flag : {"--work-us=nan", "--read-size=100"}) {
    SCOPED_TRACE(flag);
    const Outcome o = bench({"serve", "--backend=epoll", flag});
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << o.err;
    EXPECT_NE(o.err.find(std::string(flag).substr(0, std::string(flag).find('='))), std::string::npos) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
}

TEST(RejectsBadInput, LoadWhereNothingListensPrintsNothingOnStdout) {
  // A port that was free a moment ago: bound, never listened on, closed.
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  probe.reset();

  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"load", fmt::format("--target=127.0.0.1:{}", port), "--duration=1", "--json=" + json});
  expect_rejected(o, json, "cannot connect");
  EXPECT_EQ(o.out, "") << "nothing was measured, so nothing belongs on stdout";
}

TEST(RejectsBadInput, HelpIsNotAnError) {
  const Outcome o = bench({"--help"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_NE(o.out.find("--backend"), std::string::npos);
  EXPECT_NE(o.out.find("--clients"), std::string::npos);
}

// More connections than one process's fd limit holds: the error names the process counts that
// hold them (per side: each load process and each server process holds its share).
TEST(RejectsBadInput, ConnectionsBeyondOneProcessNameTheProcessCountsThatHoldThem) {
  struct SplitCase {
    std::vector<std::string> flags;
    std::vector<std::string> mentions, absent;
  };
  // Limit 1000, less 64 spare: 936 connections per process. 1500 need 2 load processes and
  // 2 server processes (1500 / 2 x 1.1 = 825 each).
  for (const SplitCase& c : {SplitCase{{"--clients=1500"}, {"--loadgen-processes=2", "--server-processes=2"}, {}},
                        SplitCase{{"--clients=1500", "--loadgen-processes=2"}, {"--server-processes=2"},
                             {"--loadgen-processes"}},
                        SplitCase{{"load", "--target=127.0.0.1:9", "--clients=1500"}, {"--loadgen-processes=2"},
                             {"--server-processes"}}}) {
    std::vector<std::string> argv = {"/usr/bin/prlimit", "--nofile=1000:1000", BENCH_PATH};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    argv.push_back("--duration=1");
    const Outcome o = run(argv);
    EXPECT_EQ(o.exit_code, 2) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    for (const auto& m : c.mentions) EXPECT_NE(o.err.find(m), std::string::npos) << m << " in: " << o.err;
    for (const auto& m : c.absent) EXPECT_EQ(o.err.find(m), std::string::npos) << m << " in: " << o.err;
  }
  EXPECT_TRUE(tagged_processes().empty());
}

}  // namespace
}  // namespace mux::test
