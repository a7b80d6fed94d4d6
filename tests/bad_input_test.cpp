// Bad input gets one line naming the problem and the fix, exit status 2, no result file and no
// server process left behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "core/unique_fd.hpp"
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
  expect_rejected(bench(args), json, GetParam().mentions);
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
                      BadFlag{"not_loopback", {"--host=10.1.2.3"}, "loopback"},
                      BadFlag{"missing_cpu", {"--server-cpus=4000"}, "CPU"},
                      BadFlag{"unknown_flag", {"--frobnicate"}, "frobnicate"},
                      BadFlag{"json_dir_missing", {"--json=/nonexistent/dir/r.json"}, "/nonexistent/dir"}),
    [](const auto& param_info) { return param_info.param.name; });

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

  for (const char* backend : {"epoll", "io_uring", "threads"}) {
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
  for (const char* backend : {"io_uring", "all"}) {
    TempDir dir;
    const std::string json = dir.file("r.json");
    const Outcome o = run({WITHOUT_IO_URING_PATH, BENCH_PATH, std::string("--backend=") + backend, "--duration=1",
                           "--json=" + json});
    expect_rejected(o, json, "io_uring");
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

}  // namespace
}  // namespace mux::test
