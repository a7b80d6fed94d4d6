// Flags parsed strictly, refused at parse time with one line naming the flag and the fix:
// duplicate CPUs, `--opt=` with no value, a port with trailing bytes, an out-of-range seed,
// text that is not UTF-8, bad --sources and --host; the fd-limit advice names values that pass;
// `bench serve`'s errors take the form every command's do.

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/net.hpp"
#include "core/unique_fd.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

void expect_parse_refused(const Outcome& o, const std::vector<std::string>& mentions) {
  EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << "exactly one line on stderr, got:\n" << o.err;
  for (const std::string& m : mentions) EXPECT_NE(o.err.find(m), std::string::npos) << m << " in: " << o.err;
  EXPECT_TRUE(o.out.empty()) << "nothing on stdout, got:\n" << o.out;
  EXPECT_TRUE(tagged_processes().empty()) << "a process was left running";
}

struct Refusal {
  std::vector<std::string> args;
  std::vector<std::string> mentions;
};

// Each case runs briefly were it accepted, and writes its JSON into a scratch directory.
void expect_all_refused(const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    std::string trace;
    for (const auto& a : c.args) trace += a + " ";
    SCOPED_TRACE(trace);
    TempDir dir;
    auto args = c.args;
    if (args.front() != "serve" && args.front() != "sweep") {
      for (const char* a : {"--duration=0.2", "--warmup=0", "--clients=1"}) args.emplace_back(a);
      args.push_back("--json=" + dir.file("r.json"));
    }
    expect_parse_refused(bench(args), c.mentions);
    EXPECT_FALSE(std::filesystem::exists(dir.file("r.json"))) << "a result file was written";
  }
}

// A port held by a listener here: a run that gets past every check fails to bind it, at once.
std::string busy_port_flag(UniqueFd& holder) {
  holder = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 1);
  EXPECT_TRUE(holder);
  return fmt::format("--port={}", local_address(holder.get()).port());
}

// A core listed twice started two loops on it, got past the 4-per-CPU cap and reported a
// saturated core as 25% busy.
TEST(ParseChecks, ACpuListedTwiceIsRefused) {
  UniqueFd holder;
  const std::string port = busy_port_flag(holder);
  expect_all_refused({{{"--server-cpus=0,0"}, {"--server-cpus=0,0", "listed twice"}},
                      {{"--server-cpus=0-1,1"}, {"--server-cpus=0-1,1", "listed twice"}},
                      {{"--client-cpus=1,1"}, {"--client-cpus=1,1", "listed twice"}},
                      {{"load", "--target=127.0.0.1:9", "--client-cpus=0,0"}, {"--client-cpus", "listed twice"}},
                      // The busy port: were the list accepted, serve would fail at once, not serve on.
                      {{"serve", "--server-cpus=0,0", port}, {"bench serve: error: --server-cpus", "listed twice"}}});
}

// `--json= --clients=5` wrote a file named "--clients=5" and ran the default 100 clients:
// CLI11 took the next argument as the empty flag's value.
TEST(ParseChecks, AnEmptyValueNeverTakesTheNextArgument) {
  TempDir dir;
  const std::string swallowed = dir.file("--clients=5");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--json=", "--clients=5", "--duration=0.2"},
        {"--hgrm=", "--clients=5", "--duration=0.2"},
        {"load", "--target=127.0.0.1:9", "--json=", "--clients=5"},
        {"load", "--target=", "--clients=5"},
        {"capacity", "--slo=p99<=1ms", "--duration=0.2", "--warmup=0", "--json=", "--clients=5"},
        {"serve", "--host=", "--port=0"},
        {"sweep", "--backends=epoll", "--repetitions=1", "--duration=0.2", "--warmup=0", "--out=", "--clients=5"}}) {
    SCOPED_TRACE(args[0] + " " + args[1] + " " + args[2]);
    const std::string empty = *std::find_if(args.begin(), args.end(), [](const std::string& a) { return a.ends_with("="); });
    // Run in the scratch directory, where a swallowed value would land as a file.
    std::vector<std::string> argv = {"/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", dir.path(), BENCH_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    const Outcome refused = run(argv);
    expect_parse_refused(refused, {empty + " has no value"});
    EXPECT_FALSE(std::filesystem::exists(swallowed)) << "the next argument was taken as the value";
  }
}

// std::stoi read "39222junk" as port 39222 and " 80" or "+80" as 80; "[::1]" became host "[:".
TEST(ParseChecks, ATargetPortIsDigitsOnly) {
  expect_all_refused({{{"load", "--target=127.0.0.1:39222junk"}, {"--target=127.0.0.1:39222junk", "1 to 65535"}},
                      {{"load", "--target=127.0.0.1:+80"}, {"--target", "1 to 65535"}},
                      {{"load", "--target=127.0.0.1: 80"}, {"--target", "1 to 65535"}},
                      {{"load", "--target=[::1]:80x"}, {"--target", "1 to 65535"}},
                      {{"load", "--target=[::1]"}, {"--target=[::1] has no port", "[::1]:8080"}},
                      {{"load", "--target=[::1]x"}, {"--target=[::1]x", "[IPv6]:PORT"}}});
}

// CLI11 read -1 as 2^64 - 1 and clamped 2^64 and beyond, silently.
TEST(ParseChecks, ASeedOutOfRangeIsRefused) {
  TempDir dir;
  expect_all_refused({{{"--seed=-1"}, {"--seed", "18446744073709551615"}},
                      {{"--seed=18446744073709551616"}, {"--seed"}},
                      {{"--seed=1e23"}, {"--seed"}},
                      {{"--seed=0x10"}, {"--seed"}},
                      {{"load", "--target=127.0.0.1:9", "--seed=-1"}, {"--seed"}},
                      {{"sweep", "--backends=epoll", "--clients=1", "--repetitions=1", "--duration=0.2", "--warmup=0",
                        "--out=" + dir.file("s"), "--seed=-1"},
                       {"--seed"}}});
  EXPECT_FALSE(std::filesystem::exists(dir.file("s")));
}

// Text that reaches the JSON must be UTF-8: nlohmann::json threw only when the result was
// dumped, after the whole run was measured.
TEST(ParseChecks, TextFlagsMustBeUtf8) {
  const std::string bad = "a\xff\xfe";
  expect_all_refused(
      {{{"load", "--target=127.0.0.1:9", "--label=" + bad}, {"--label", "UTF-8"}},
       {{"load", "--target=127.0.0.1:9", "--protocol=http", "--expect-body=" + bad}, {"--expect-body", "UTF-8"}},
       {{"load", "--target=unix:/tmp/" + bad}, {"--target", "UTF-8"}},
       {{"--server-cmd=/bin/true {port}", "--server-name=" + bad}, {"--server-name", "UTF-8"}},
       {{"--server-cmd=/bin/true {port} " + bad}, {"--server-cmd", "UTF-8"}},
       {{"--transport=unix", "--socket-path=/tmp/" + bad}, {"--socket-path", "UTF-8"}},
       // In a missing directory: were the path accepted, serve would fail at once, not serve on.
       {{"serve", "--transport=unix", "--socket-path=/nonexistent-dir/" + bad}, {"bench serve: error: --socket-path", "UTF-8"}}});
}

TEST(ParseChecks, BadSourcesAndHostNameTheFlagAndTheFix) {
  expect_all_refused({{{"--sources=127.0.0.1,,127.0.0.2"}, {"--sources=127.0.0.1,,127.0.0.2", "missing between commas"}},
                      {{"--sources=1"}, {"--sources=1", "127.0.0.1"}},
                      {{"--host=foo"}, {"--host=foo", "127.0.0.1"}},
                      {{"serve", "--host=foo"}, {"bench serve: error: --host=foo", "127.0.0.1"}}});
}

// `args` with `flag` (--name=VALUE) in place of any value given for --name.
std::vector<std::string> with_flag(std::vector<std::string> args, const std::string& flag) {
  const std::string name = flag.substr(0, flag.find('=') + 1);
  std::erase_if(args, [&](const std::string& a) { return a.starts_with(name); });
  args.push_back(flag);
  return args;
}

// Runs `args` under an open-files limit of `limit` (soft and hard: this process may not raise it).
Outcome under_fd_limit(int limit, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/prlimit", fmt::format("--nofile={}:{}", limit, limit), BENCH_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

// The fd-limit advice names values that pass: under `ulimit -n 64` it suggested the defaults
// and --clients=0; for a 1-CPU server, a --server-processes count the 4-per-CPU cap refuses.
// Each advised split or limit, run, gets past the check (it stops at the busy port instead).
TEST(ParseChecks, TheFdLimitAdviceNamesValuesThatPass) {
  UniqueFd holder;
  const std::string port = busy_port_flag(holder);
  struct FdCase {
    int limit;
    std::vector<std::string> flags;
  };
  for (const FdCase& c : {FdCase{64, {"--clients=1"}}, FdCase{1000, {"--clients=5000"}}, FdCase{1000, {"--clients=1500", "--idle=10"}}}) {
    std::vector<std::string> args = c.flags;
    for (const char* a : {"--backend=epoll", "--duration=0.2", "--warmup=0"}) args.emplace_back(a);
    args.push_back(port);
    SCOPED_TRACE(fmt::format("limit {} {}", c.limit, c.flags.front()));
    const Outcome o = under_fd_limit(c.limit, args);
    expect_parse_refused(o, {"open files"});
    EXPECT_EQ(o.err.find("--clients=0"), std::string::npos) << o.err;
    EXPECT_EQ(o.err.find("--loadgen-processes=1 "), std::string::npos) << "the default is no advice: " << o.err;
    // The advised limit.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(o.err, m, std::regex("`ulimit -n ([0-9]+)`"))) << o.err;
    const Outcome raised = under_fd_limit(std::stoi(m[1]), args);
    EXPECT_EQ(raised.err.find("open files"), std::string::npos) << raised.err;
    EXPECT_NE(raised.err.find("in use"), std::string::npos) << raised.err;
    // The advised split, where there is one.
    if (std::regex_search(o.err, m, std::regex("split them over processes: ([^(;]*) \\("))) {
      std::vector<std::string> split = args;
      std::istringstream flags(m[1]);
      for (std::string flag; flags >> flag;) split = with_flag(split, flag);
      const Outcome spread = under_fd_limit(c.limit, split);
      EXPECT_EQ(spread.err.find("open files"), std::string::npos) << m[1] << ": " << spread.err;
      EXPECT_NE(spread.err.find("in use"), std::string::npos) << m[1] << ": " << spread.err;
    } else {
      EXPECT_EQ(c.limit, 64) << "no split advised: " << o.err;  // 64 leaves no fd for a connection
    }
    // The advised client count.
    if (std::regex_search(o.err, m, std::regex("use at most (--clients=[0-9]+)"))) {
      const Outcome less = under_fd_limit(c.limit, with_flag(args, m[1]));
      EXPECT_EQ(less.err.find("open files"), std::string::npos) << m[1] << ": " << less.err;
    }
  }
  EXPECT_TRUE(tagged_processes().empty());
}

// `bench serve` errors begin as every command's: "bench serve: error: ".
TEST(ParseChecks, ServeErrorsSayBenchServeError) {
  UniqueFd holder;
  const std::string port = busy_port_flag(holder);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"serve", "--backend=epoll", port}, {"serve", "--frobnicate"},
        {"serve", "--backend=epoll", "--server-threads=9", "--server-cpus=0"}}) {
    SCOPED_TRACE(args.back());
    const Outcome o = bench(args);
    EXPECT_EQ(o.exit_code, 2) << o.err;
    EXPECT_TRUE(o.err.starts_with("bench serve: error: ")) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
  const Outcome denied = run({WITHOUT_IO_URING_PATH, BENCH_PATH, "serve", "--backend=io_uring"});
  EXPECT_EQ(denied.exit_code, 2) << denied.err;
  EXPECT_TRUE(denied.err.starts_with("bench serve: error: --backend=io_uring")) << denied.err;
}

}  // namespace
}  // namespace mux::test
