// Outputs never destroy what they replace: --json and --hgrm naming a device, a FIFO, a
// directory, a link to one, a name too long, or one file twice are refused before anything
// runs; a final write that fails (disk full) loses neither the table's notes nor the other file.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

std::size_t files_in(const std::string& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

void expect_output_refused(const Outcome& o, const std::string& mentions) {
  EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << "exactly one line on stderr, got:\n" << o.err;
  EXPECT_TRUE(o.err.ends_with("\n")) << o.err;
  EXPECT_NE(o.err.find(mentions), std::string::npos) << o.err;
  EXPECT_TRUE(o.out.empty()) << "nothing on stdout, got:\n" << o.out;
  EXPECT_TRUE(tagged_processes().empty()) << "a process was left running";
}

// The commands that write --json and --hgrm, each refusing before it runs.
const std::vector<std::vector<std::string>>& output_commands() {
  static const std::vector<std::vector<std::string>> all = {
      {"--backend=epoll", "--clients=1", "--duration=0.2", "--warmup=0"},
      {"load", "--target=127.0.0.1:9", "--clients=1", "--duration=0.2", "--warmup=0"},
      {"capacity", "--slo=p99<=1ms", "--backend=epoll", "--clients=1", "--duration=0.2", "--warmup=0"}};
  return all;
}

struct BadTarget {
  std::string name;     // made in the scratch directory (empty: `path` as given)
  std::string path;     // relative to the scratch directory, or absolute
  std::string mentions;
};

// Device nodes made here with mknod (never a real /dev entry), a FIFO, links, a directory.
TEST(OutputFiles, NonRegularOrTooLongTargetsAreRefusedBeforeAnythingRuns) {
  TempDir dir;
  ASSERT_EQ(::mknod(dir.file("dev").c_str(), S_IFCHR | 0600, ::makedev(1, 7)), 0) << "mknod: run as root";  // like /dev/full
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  std::filesystem::create_directory(dir.file("dir"));
  std::filesystem::create_symlink("dev", dir.file("to-dev"));
  std::filesystem::create_symlink("/proc/self/fd/1", dir.file("to-stdout"));  // run() sends stdout to a file
  std::string deep;
  while (deep.size() < 4200) deep += "d/";
  const std::vector<BadTarget> targets = {
      {"dev", "dev", "a character device"},
      {"fifo", "fifo", "a FIFO"},
      {"dir", "dir", "a directory"},
      {"to-dev", "to-dev", "a symbolic link to a character device"},
      {"to-stdout", "to-stdout", "standard output"},
      {"", "dir/", "ends with '/'"},
      {"", std::string(256, 'n') + ".json", "255"},
      {"", deep + "r.json", "the path is"}};
  const std::size_t before = files_in(dir.path());
  for (const auto& command : output_commands()) {
    for (const char* flag : {"--json", "--hgrm"}) {
      for (const BadTarget& t : targets) {
        SCOPED_TRACE(command.front() + " " + flag + "=" + t.path.substr(0, 40));
        auto args = command;
        args.push_back(fmt::format("{}={}", flag, dir.file(t.path)));
        if (std::string(flag) == "--hgrm") args.push_back("--json=" + dir.file("r.json"));
        expect_output_refused(bench(args), t.mentions);
      }
    }
  }
  struct stat st {};
  ASSERT_EQ(::lstat(dir.file("dev").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node was replaced";
  ASSERT_EQ(::lstat(dir.file("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("to-dev")));
  EXPECT_EQ(files_in(dir.path()), before) << "a result or temporary file was written";
  EXPECT_EQ(files_in(dir.file("dir")), 0u);
}

// --json and --hgrm naming one file (directly, through a link, or once {backend} is filled in):
// the histogram silently overwrote the JSON.
TEST(OutputFiles, OneFileNamedByTwoOutputsIsRefused) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("real"));
  std::filesystem::create_symlink("real", dir.file("alias"));
  for (const auto& command : {output_commands()[0], output_commands()[1]}) {
    for (const auto& [json, hgrm] : std::vector<std::pair<std::string, std::string>>{
             {"r.out", "r.out"}, {"real/r.out", "alias/r.out"}, {"real/r.out", "real/../real/r.out"}}) {
      SCOPED_TRACE(command.front() + " " + json + " " + hgrm);
      auto args = command;
      args.push_back("--json=" + dir.file(json));
      args.push_back("--hgrm=" + dir.file(hgrm));
      expect_output_refused(bench(args), "are the same file");
    }
  }
  const Outcome all = bench({"--backend=all", "--clients=1", "--duration=0.2", "--warmup=0",
                             "--json=" + dir.file("r-{backend}.out"), "--hgrm=" + dir.file("r-{backend}.out")});
  expect_output_refused(all, "are the same file");
  EXPECT_EQ(files_in(dir.path()), 2u) << "a result file was written";
}

// `bench capacity` accepted --hgrm and wrote nothing: it writes its closed-loop probe's
// distribution (the probe its JSON describes).
TEST(OutputFiles, CapacityWritesTheClosedLoopProbesHgrm) {
  TempDir dir;
  const Outcome o = bench({"capacity", "--slo=p99<=1s", "--backend=epoll", "--clients=1", "--duration=0.2",
                           "--warmup=0", "--max-probes=3", "--counters=off", "--json=" + dir.file("r.json"),
                           "--hgrm=" + dir.file("r.hgrm")});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_TRUE(slurp(dir.file("r.hgrm")).starts_with(fmt::format("{:>12} {:>14}", "Value", "Percentile")))
      << slurp(dir.file("r.hgrm"));
  EXPECT_EQ(read_json(dir.file("r.json"))["kind"], "capacity");
}

// A full disk at the final write (fsync fails with ENOSPC): the table and its notes are still
// printed, the other output is still tried, and each failed output gets its own line; exit 1.
TEST(OutputFiles, AFailedFinalWriteKeepsTheNotesAndTriesEveryOutput) {
  TempDir dir;
  const Outcome o = run({WITHOUT_FSYNC_PATH, BENCH_PATH, "--backend=epoll", "--clients=1", "--rate=200",
                         "--duration=0.3", "--warmup=0", "--counters=off", "--json=" + dir.file("r.json"),
                         "--hgrm=" + dir.file("r.hgrm")});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_NE(o.out.find("epoll"), std::string::npos) << "the table row is missing:\n" << o.out;
  EXPECT_NE(o.out.find("target 200 req/s"), std::string::npos) << "the table's notes are missing:\n" << o.out;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 2) << "one line per failed output, got:\n" << o.err;
  for (const char* flag : {"bench: error: --json: cannot write", "bench: error: --hgrm: cannot write"})
    EXPECT_NE(o.err.find(flag), std::string::npos) << flag << " in:\n" << o.err;
  EXPECT_NE(o.err.find("No space left on device"), std::string::npos) << o.err;
  EXPECT_EQ(files_in(dir.path()), 0u) << "a half-written or temporary file was left";
  EXPECT_TRUE(tagged_processes().empty());
}

// The target checked before the run can change during it: made a FIFO while the run measures,
// it is not replaced when the (interrupted, so partial) results are written.
TEST(OutputFiles, ATargetThatBecameAFifoDuringTheRunIsNotReplaced) {
  TempDir dir;
  const std::string json = dir.file("r.json");
  const Outcome o = bench({"--backend=epoll", "--clients=1", "--duration=60", "--warmup=0", "--counters=off",
                           "--json=" + json},
                          [&](pid_t pid) {
                            ASSERT_TRUE(wait_for_stdout(pid, kTableHeader));
                            ASSERT_EQ(::mkfifo(json.c_str(), 0600), 0);
                            ::kill(pid, SIGINT);
                          });
  EXPECT_EQ(o.exit_code, 130) << o.out << o.err;
  struct stat st {};
  ASSERT_EQ(::lstat(json.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_NE(o.err.find("--json: cannot write"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("FIFO"), std::string::npos) << o.err;
  EXPECT_EQ(files_in(dir.path()), 1u) << "a temporary file was left";
  EXPECT_TRUE(tagged_processes().empty());
}

}  // namespace
}  // namespace mux::test
