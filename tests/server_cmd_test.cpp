// Any server as a backend (`bench --server-cmd`): a command's server is started, measured like a
// built-in (its whole process tree's CPU and kernel counters), and stopped with every process
// it made, also on Ctrl-C; a command that cannot serve is refused in one line. The servers
// here are this repository's `bench serve` and Debian's nginx, on loopback only.
#include <signal.h>
#include <sys/socket.h>

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/net.hpp"
#include "core/unique_fd.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

// `bench serve` as if it were someone else's server: bench knows it only by its command line.
std::string bench_serve_command(const std::string& backend) {
  return fmt::format("{} serve --backend={} --host={{host}} --port={{port}} --server-cpus={{cpus}}", BENCH_PATH, backend);
}

std::string nginx_command() { return fmt::format("{}/scripts/nginx-server {{port}} {{host}}", SOURCE_DIR); }

void expect_one_line_exit_2(const Outcome& o, const std::string& mentions) {
  EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
  EXPECT_TRUE(o.out.empty()) << o.out;
  ASSERT_FALSE(o.err.empty());
  EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "exactly one line on stderr, got:\n" << o.err;
  EXPECT_NE(o.err.find(mentions), std::string::npos) << o.err;
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

TEST(ServerCmd, MeasuresTheCommandsServerLikeABackend) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--server-cmd=" + bench_serve_command("epoll"), "--server-name=outside-epoll", "--clients=4",
                           "--duration=1", "--warmup=0.3", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("outside-epoll"), std::string::npos) << o.out;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  EXPECT_TRUE(doc["complete"].get<bool>());
  EXPECT_EQ(doc["config"]["backend"], "outside-epoll");
  const std::string command = doc["config"]["server_command"].get<std::string>();
  EXPECT_EQ(command.find('{'), std::string::npos) << "placeholders filled in: " << command;
  const std::string address = doc["config"]["server_address"].get<std::string>();
  EXPECT_NE(command.find("--port=" + address.substr(address.rfind(':') + 1)), std::string::npos)
      << command << " serves " << address;
  EXPECT_GT(r["requests"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(r["errors"], 0);
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), r["requests"].get<std::uint64_t>() * (4 + 128));  // header + payload
  // Its CPU is measured from outside, through its process tree.
  ASSERT_TRUE(r["server_cpu_us_per_request"].is_number()) << r.dump(2);
  EXPECT_GT(r["server_cpu_us_per_request"].get<double>(), 0);
  // Its system calls: an epoll server receives and sends each request at least once; it is
  // counted by perf events inherited from the command's first process (the shell).
  const auto& server = r["kernel_counters"]["server"];
  ASSERT_TRUE(server["syscalls_per_request"].is_number()) << server.dump(2);
  EXPECT_GE(server["syscalls_per_request"].get<double>(), 1.9) << server.dump(2);
  EXPECT_LE(server["syscalls_per_request"].get<double>(), 6) << server.dump(2);
  EXPECT_GE(server["per_syscall"]["sendto"]["per_request"].get<double>() +
                server["per_syscall"]["write"]["per_request"].get<double>() +
                server["per_syscall"]["sendmsg"]["per_request"].get<double>(),
            0.95)
      << server.dump(2);
  EXPECT_TRUE(server["context_switches_per_request"].is_number()) << server.dump(2);
  EXPECT_TRUE(server["voluntary_context_switches_per_request"].is_null());
  EXPECT_NE(server["unavailable"]["voluntary_context_switches_per_request"].get<std::string>().find("--server-cmd"),
            std::string::npos);
  EXPECT_TRUE(r["request_count_check"].is_null() || r["request_count_check"].is_object());
  EXPECT_TRUE(tagged_processes().empty()) << "the command's server was left running";
}

TEST(ServerCmd, NginxWorkersAreCountedAndStopped) {
  if (!std::filesystem::exists("/usr/sbin/nginx")) GTEST_SKIP() << "nginx is not installed (scripts/setup installs it)";
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--server-cmd=" + nginx_command(), "--server-name=nginx", "--protocol=http", "--clients=4",
                           "--duration=1", "--warmup=0.3", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  EXPECT_GT(r["requests"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(r["errors"], 0);
  // The worker, not the master, answers: its CPU and system calls reach the counts only
  // through inheritance from the first process.
  ASSERT_TRUE(r["server_cpu_us_per_request"].is_number()) << r.dump(2);
  EXPECT_GT(r["server_cpu_us_per_request"].get<double>(), 0);
  EXPECT_GE(r["kernel_counters"]["server"]["syscalls_per_request"].get<double>(), 1.0) << r["kernel_counters"].dump(2);
  EXPECT_TRUE(tagged_processes().empty()) << "an nginx process was left running";
}

TEST(ServerCmd, CtrlCStopsTheCommandsWholeProcessGroup) {
  if (!std::filesystem::exists("/usr/sbin/nginx")) GTEST_SKIP() << "nginx is not installed (scripts/setup installs it)";
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--server-cmd=" + nginx_command(), "--protocol=http", "--clients=4", "--duration=60",
                           "--warmup=0.2", "--json=" + json},
                          [](pid_t pid) {
                            sleep_ms(2000);
                            ::kill(pid, SIGINT);
                          });
  EXPECT_EQ(o.exit_code, 130) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_FALSE(doc["complete"].get<bool>());
  EXPECT_TRUE(tagged_processes().empty()) << "an nginx process was left running";
}

TEST(ServerCmd, BadCommandsAreRefusedInOneLine) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--clients=2", "--duration=1", "--json=" + json});
    return bench(args);
  };
  expect_one_line_exit_2(run({"--server-cmd=" + std::string(BENCH_PATH) + " serve --backend=epoll"}), "{port}");
  expect_one_line_exit_2(run({"--server-cmd=./srv --port={prot}"}), "{prot}");
  expect_one_line_exit_2(run({"--server-cmd=echo listening failed >&2; exit 3 # {port}"}),
                         "exited with status 3 before accepting connections");
  expect_one_line_exit_2(run({"--server-cmd=echo listening failed >&2; exit 3 # {port}"}), "listening failed");
  expect_one_line_exit_2(run({"--server-cmd=sleep 30 # {port}", "--server-start-timeout=0.5"}),
                         "did not accept connections");
  expect_one_line_exit_2(run({"--server-cmd=" + bench_serve_command("epoll"), "--backend=poll"}), "--backend");
  expect_one_line_exit_2(run({"--server-cmd=" + bench_serve_command("epoll"), "--work-us=5"}), "--work-us");
  expect_one_line_exit_2(run({"--server-cmd=" + bench_serve_command("epoll"), "--server-name=epoll"}), "--server-name");
  // Something already listens on the port asked for: it would be measured instead.
  const UniqueFd taken = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 8);
  const std::uint16_t port = local_address(taken.get()).port();
  expect_one_line_exit_2(run({"--server-cmd=" + bench_serve_command("epoll"), fmt::format("--port={}", port)}),
                         "already accepts connections");
  EXPECT_FALSE(std::filesystem::exists(json)) << "a result file was written";
}

// --transport=unix: the command gets the socket path as {path}; bench connects there, and the
// path is gone afterwards. A sweep passes --transport=unix to its --servers runs alike.
TEST(ServerCmd, ServesOverAUnixSocketPath) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const std::string command = fmt::format("{} serve --backend=epoll --transport=unix --socket-path={{path}}", BENCH_PATH);
  const Outcome o = bench({"--transport=unix", "--server-cmd=" + command, "--server-name=outside", "--clients=4",
                           "--duration=0.5", "--warmup=0.2", "--json=" + json});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  EXPECT_TRUE(doc["complete"].get<bool>());
  const std::string expanded = doc["config"]["server_command"].get<std::string>();
  const auto at = expanded.find("--socket-path=");
  ASSERT_NE(at, std::string::npos) << expanded;
  const std::string path = expanded.substr(at + 14);
  EXPECT_TRUE(path.ends_with(".sock")) << expanded;
  EXPECT_FALSE(std::filesystem::exists(path)) << "the socket file outlived the run";
  const auto& r = doc["results"];
  EXPECT_GT(r["requests"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(r["errors"], 0);
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), r["requests"].get<std::uint64_t>() * (4 + 128));
  EXPECT_TRUE(r["server_cpu_us_per_request"].is_number()) << r.dump(2);
  EXPECT_TRUE(tagged_processes().empty());

  const std::string out = dir.file("sweep");
  const Outcome s = bench({"sweep", "--servers=outside=" + command, "--clients=2", "--repetitions=1",
                           "--duration=0.3", "--warmup=0.1", "--out=" + out, "--transport=unix"});
  ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  const auto run = read_json(out + "/runs/outside-c2-m128-r0.json");
  EXPECT_TRUE(run["complete"].get<bool>());
  EXPECT_EQ(run["results"]["errors"], 0);
  EXPECT_EQ(run["config"]["transport"], "unix");
}

TEST(ServerCmd, RefusesAnEndpointItsTransportDoesNotHave) {
  TempDir dir;
  expect_one_line_exit_2(bench({"--transport=unix", "--server-cmd=./srv --port={port}"}), "{port} with --transport=unix");
  expect_one_line_exit_2(bench({"--server-cmd=./srv --unix={path}"}), "add --transport=unix");
  // A sweep checks each --servers command against the flags its runs get, before any runs.
  expect_one_line_exit_2(bench({"sweep", "--servers=a=./srv --unix={path}", "--clients=2", "--out=" + dir.file("s")}),
                         "add --transport=unix");
  EXPECT_FALSE(std::filesystem::exists(dir.file("s") + "/sweep.json"));
}

// `bench sweep --servers`: a command's server is a column of the grid like a backend.
TEST(ServerCmd, SweepMeasuresServersBesideBackends) {
  TempDir dir;
  const std::string out = dir.file("sweep");
  const Outcome o = bench({"sweep", "--backends=poll", "--servers=outside=" + bench_serve_command("epoll"),
                           "--clients=2", "--repetitions=1", "--duration=0.5", "--warmup=0.2", "--out=" + out});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto plan = read_json(out + "/sweep.json");
  EXPECT_EQ(plan["backends"], nlohmann::json::array({"poll", "outside"}));
  const auto run = read_json(out + "/runs/outside-c2-m128-r0.json");
  EXPECT_TRUE(run["complete"].get<bool>());
  EXPECT_EQ(run["results"]["errors"], 0);
  EXPECT_GT(run["results"]["requests"].get<std::uint64_t>(), 0u);
  EXPECT_NE(run["config"]["server_command"].get<std::string>().find("serve --backend=epoll"), std::string::npos);
  EXPECT_TRUE(tagged_processes().empty());
}

TEST(ServerCmd, SweepRefusesBadServers) {
  TempDir dir;
  const auto sweep = [&](const std::string& servers) {
    return bench({"sweep", "--servers=" + servers, "--clients=2", "--repetitions=1", "--duration=0.5",
                  "--out=" + dir.file("sweep")});
  };
  expect_one_line_exit_2(sweep("epoll=" + bench_serve_command("poll")), "is a backend of bench");
  expect_one_line_exit_2(sweep("just-a-command {port}"), "NAME=COMMAND");
  expect_one_line_exit_2(sweep("a=./srv {port},a=./srv {port}"), "named twice");
  expect_one_line_exit_2(sweep("a=./srv --port=8080"), "{port}");
  EXPECT_FALSE(std::filesystem::exists(dir.file("sweep") + "/sweep.json"));
}

}  // namespace
}  // namespace mux::test
