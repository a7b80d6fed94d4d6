// No orphans: bench killed with SIGKILL, which it cannot catch, still takes every process it
// started with it: a --server-cmd server that its shell forked (PR_SET_PDEATHSIG reaches only
// the shell), and a sweep's running child `bench` with that run's server, which would otherwise
// finish and write into the sweep's output directory afterwards. The watchdog acts when bench's
// end of its socket closes, at bench's death; what the tests wait for is that, plus the few
// scheduling delays of a busy machine.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/net.hpp"
#include "core/unique_fd.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

namespace fs = std::filesystem;

// SIGKILLed processes end at once; the watchdog is woken by the kernel at bench's exit. 10 s
// is the scheduling slack of a machine with another process busy on each core, not a speed.
constexpr int kGoneWithinMs = 10'000;

// A plain echo server: every byte read is written back, a thread per connection.
constexpr const char* kEchoServer = R"(import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
def serve(c):
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
)";

std::string python() { return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

std::string cmdline(pid_t pid) {
  std::string text = slurp(fmt::format("/proc/{}/cmdline", pid));
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

// Waits until no process of this test is left; what is still running after the wait otherwise.
std::string left_running() {
  for (int waited = 0; waited < kGoneWithinMs && !tagged_processes().empty(); waited += 20) sleep_ms(20);
  std::string left;
  for (const pid_t pid : tagged_processes()) left += fmt::format("\n  {}: {}", pid, cmdline(pid));
  return left;
}

// This test's own cgroup v2 directory (where bench makes its muxbench-PID-* cgroup); "" if none.
std::string own_cgroup() {
  std::istringstream mounts(slurp("/proc/self/mountinfo"));
  std::string point;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mount, word;
    f >> id >> parent >> dev >> root >> mount;
    while (f >> word && word != "-") {
    }
    if (f >> word && word == "cgroup2" && root == "/") point = mount;
  }
  std::istringstream cgroups(slurp("/proc/self/cgroup"));
  for (std::string line; std::getline(cgroups, line);)
    if (line.starts_with("0::") && !point.empty()) return point + (line == "0::/" ? "" : line.substr(3));
  return "";
}

// The cgroups a bench with pid `pid` made that are still there.
std::vector<std::string> cgroups_left(pid_t pid) {
  std::vector<std::string> left;
  const std::string dir = own_cgroup();
  std::error_code ec;
  if (dir.empty()) return left;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().starts_with(fmt::format("muxbench-{}-", pid))) left.push_back(e.path().string());
  return left;
}

// Every file under `dir` with its size: what a process still writing there would change.
std::map<std::string, std::uintmax_t> files_under(const std::string& dir) {
  std::map<std::string, std::uintmax_t> files;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) files[e.path().string()] = e.file_size(ec);
  return files;
}

std::string describe(const std::map<std::string, std::uintmax_t>& files) {
  std::string text;
  for (const auto& [path, size] : files) text += fmt::format("\n  {} ({} bytes)", path, size);
  return text;
}

std::uint16_t free_port() {
  const UniqueFd fd = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 1);
  return local_address(fd.get()).port();
}

bool accepts(std::uint16_t port) {
  return first_accepting({SocketAddress::parse("127.0.0.1", port)}, std::chrono::milliseconds(500)) != nullptr;
}

// dash forks a command that is not the last one of `sh -c`: PR_SET_PDEATHSIG, set on the shell,
// never reaches the echo server, which would keep serving on its port after bench's death.
TEST(NoOrphans, ServerCmdForkedByItsShellEndsWithAKilledBench) {
  TempDir dir;
  { std::ofstream(dir.file("echo.py")) << kEchoServer; }
  const std::uint16_t port = free_port();
  const std::string command = fmt::format("{} {} {{port}}; true", python(), dir.file("echo.py"));
  pid_t bench_pid = 0;
  bool server_seen = false;
  const Outcome o = bench({"--server-cmd=" + command, "--clients=2", "--duration=60", "--warmup=0",
                           fmt::format("--port={}", port), "--json=" + dir.file("r.json")},
                          [&](pid_t pid) {
                            bench_pid = pid;
                            if (!wait_for_stdout(pid, kTableHeader)) return;  // measuring now
                            for (const pid_t p : tagged_processes())
                              server_seen = server_seen || cmdline(p).find("echo.py") != std::string::npos;
                            ::kill(pid, SIGKILL);
                          });
  EXPECT_EQ(o.exit_code, 128 + SIGKILL) << o.out << o.err;
  EXPECT_TRUE(server_seen) << "the echo server was not running while bench measured:\n" << o.out << o.err;
  EXPECT_EQ(left_running(), "") << "processes outlived the killed bench";
  EXPECT_FALSE(accepts(port)) << "something still serves on port " << port;
  EXPECT_TRUE(cgroups_left(bench_pid).empty()) << cgroups_left(bench_pid).front();
}

// A sweep killed mid-run: its child `bench` and that run's `bench serve` end with it, and
// nothing is written into its output directory afterwards (a resumed sweep would otherwise
// find a run it is redoing completed under it).
TEST(NoOrphans, KilledSweepTakesItsRunAndServerAndWritesNothingLater) {
  TempDir dir;
  const std::string out = dir.file("sweep");
  constexpr double kRunSeconds = 1;  // each run's --duration, with no warm-up
  pid_t sweep_pid = 0;
  bool serving = false;
  const Outcome o = bench({"sweep", "--backends=epoll", "--clients=2", "--message-sizes=64", "--repetitions=3",
                           fmt::format("--duration={}", kRunSeconds), "--warmup=0", "--seed=1", "--out=" + out},
                          [&](pid_t pid) {
                            sweep_pid = pid;
                            // A run measures once its log (its stdout) shows the table header.
                            for (int waited = 0; waited < 60'000 && !serving; waited += 20) {
                              for (const auto& [path, size] : files_under(out))
                                if (path.ends_with(".log") && slurp(path).find(kTableHeader) != std::string::npos)
                                  serving = true;
                              if (!serving) sleep_ms(20);
                            }
                            if (serving) ::kill(pid, SIGKILL);
                          });
  ASSERT_TRUE(serving) << "no run started measuring:\n" << o.out << o.err << describe(files_under(out));
  const auto at_kill = files_under(out);
  EXPECT_EQ(o.exit_code, 128 + SIGKILL) << o.out << o.err;
  EXPECT_EQ(left_running(), "") << "processes outlived the killed sweep";
  // Past the end the killed run would have reached (its measured second, then its report),
  // with a margin for the end of a run's server and the JSON written after it.
  sleep_ms(static_cast<int>(kRunSeconds * 1000) + 2'000);
  const auto later = files_under(out);
  EXPECT_EQ(later, at_kill) << "written after the sweep was killed; before:" << describe(at_kill) << "\nafter:"
                            << describe(later);
  EXPECT_TRUE(cgroups_left(sweep_pid).empty()) << cgroups_left(sweep_pid).front();
}

// `setsid -f` puts the server in a session of its own: out of the process group bench stops
// and out of every group a fallback could record. Only the cgroup it was started in holds it,
// on a normal end (the group is stopped, then what is left of the tree) and after SIGKILL.
std::string setsid_command(const TempDir& dir) {
  { std::ofstream(dir.file("echo.py")) << kEchoServer; }
  return fmt::format("setsid -f {} {} {{port}}; exec sleep 600", python(), dir.file("echo.py"));
}

bool cgroup_writable() {
  const std::string own = own_cgroup();
  return !own.empty() && ::access((own + "/cgroup.procs").c_str(), W_OK) == 0;
}

TEST(NoOrphans, ServerThatLeavesItsSessionEndsWithBench) {
  if (!cgroup_writable()) GTEST_SKIP() << "no writable cgroup2 here: a server that calls setsid escapes bench";
  TempDir dir;
  const std::uint16_t port = free_port();
  const Outcome o = bench({"--server-cmd=" + setsid_command(dir), "--clients=2", "--duration=0.3", "--warmup=0",
                           fmt::format("--port={}", port)});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  std::string left;  // at once: bench ends its tree before it exits
  for (const pid_t pid : tagged_processes()) left += fmt::format("\n  {}: {}", pid, cmdline(pid));
  EXPECT_EQ(left, "") << "processes outlived bench";
  EXPECT_FALSE(accepts(port)) << "something still serves on port " << port;
}

TEST(NoOrphans, ServerThatLeavesItsSessionEndsWithAKilledBench) {
  if (!cgroup_writable()) GTEST_SKIP() << "no writable cgroup2 here: a server that calls setsid escapes bench";
  TempDir dir;
  const std::uint16_t port = free_port();
  pid_t bench_pid = 0;
  const Outcome o = bench({"--server-cmd=" + setsid_command(dir), "--clients=2", "--duration=60", "--warmup=0",
                           fmt::format("--port={}", port)},
                          [&](pid_t pid) {
                            bench_pid = pid;
                            if (wait_for_stdout(pid, kTableHeader)) ::kill(pid, SIGKILL);
                          });
  EXPECT_EQ(o.exit_code, 128 + SIGKILL) << o.out << o.err;
  EXPECT_EQ(left_running(), "") << "processes outlived the killed bench";
  EXPECT_FALSE(accepts(port)) << "something still serves on port " << port;
  EXPECT_TRUE(cgroups_left(bench_pid).empty()) << cgroups_left(bench_pid).front();
}

}  // namespace
}  // namespace mux::test
