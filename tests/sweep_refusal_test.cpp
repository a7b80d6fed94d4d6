// `bench sweep` checks every run before anything runs, and never aborts: a flag bench would
// refuse stops the sweep before it creates anything, and a build that fails or a disk that
// fills ends it with one line while the completed runs and the other builds' results stay.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

namespace fs = std::filesystem;

// The lines of `err` that are not the sweep's progress lines ("[####....] 1/4 ...").
std::vector<std::string> non_progress_lines(const std::string& err) {
  std::vector<std::string> lines;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() != '[') lines.push_back(line);
  return lines;
}

// Exit status 2, one line on stderr naming `named`, nothing on stdout, no output directory.
void expect_refused(const std::vector<std::string>& flags, const std::string& named) {
  TempDir dir;
  const std::string out = dir.file("sweep");
  std::vector<std::string> args = {"sweep", "--repetitions=1", "--duration=0.2", "--warmup=0", "--out=" + out};
  args.insert(args.end(), flags.begin(), flags.end());
  if (std::none_of(flags.begin(), flags.end(), [](const std::string& f) { return f.starts_with("--clients="); }))
    args.push_back("--clients=1");
  const Outcome o = bench(args);
  const std::string what = ::testing::PrintToString(flags);
  EXPECT_EQ(o.exit_code, 2) << what << o.out << o.err;
  EXPECT_EQ(o.out, "") << what;
  ASSERT_FALSE(o.err.empty()) << what;
  EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << what << o.err;
  EXPECT_TRUE(o.err.starts_with("bench: error: ")) << what << o.err;
  EXPECT_NE(o.err.find(named), std::string::npos) << what << o.err;
  EXPECT_FALSE(fs::exists(out)) << what << o.err;
}

TEST(SweepRefusal, RunFlagsBenchWouldRefuseStopTheSweepBeforeItCreatesAnything) {
  expect_refused({"--backends=epoll", "--message-sizes=2000000"}, "--message-sizes=2000000");
  expect_refused({"--backends=epoll", "--protocol=raw", "--work-us=5"}, "--work-us");
  expect_refused({"--backends=epoll", "--json=run.json"}, "--json");
  expect_refused({"--backends=epoll", "--hgrm=run.hgrm"}, "--hgrm");
  expect_refused({"--backends=epoll", "--backend=poll"}, "--backend=poll");
  expect_refused({"--backends=epoll", "--server-threads=0"}, "--server-threads");
  const std::string builds = fmt::format("--builds=a={},b={}", BENCH_PATH, BENCH_PATH);
  expect_refused({"--backends=epoll", builds, "--build-flags=b=--work-us=abc"}, "--build-flags");
  expect_refused({"--backends=epoll", builds, "--build-flags=b=--json=x.json"}, "--build-flags");
}

TEST(SweepRefusal, NegativeAndNonUtf8ValuesAreRefusedNamingTheFlag) {
  expect_refused({"--backends=epoll", "--clients=-5"}, "--clients=-5");
  expect_refused({"--backends=epoll", "--message-sizes=128,-1"}, "--message-sizes");
  expect_refused({"--servers=x=./srv\xff {port}"}, "--servers");
  const std::string builds = fmt::format("--builds=a={},b={}", BENCH_PATH, BENCH_PATH);
  expect_refused({"--backends=epoll", builds, "--build-flags=b=--server-cpus=\xff"}, "--build-flags");
  expect_refused({"--backends=epoll", "--pipeline=\xfe"}, "UTF-8");
}

// A sweep none of whose runs can run here measures nothing: refused, not "1 skipped" and 0.
TEST(SweepRefusal, ASweepEveryRunOfWhichWouldBeSkippedIsRefused) {
  expect_refused({"--backends=epoll", "--clients=50000"}, "--clients");
}

// --builds with a build that cannot run (the scripts/ci-perf path): the good build's results
// are all written, the failed build's runs are recorded as failed with the reason, and the
// sweep ends with one line and exit status 1, not SIGABRT.
TEST(SweepNeverAborts, AFailingBuildLeavesTheOtherBuildsResultsWritten) {
  TempDir dir;
  const std::string killed = dir.file("killed-bench");
  std::ofstream(killed) << "#!/bin/sh\nkill -KILL $$\n";
  ::chmod(killed.c_str(), 0755);
  const std::string out = dir.file("sweep");
  const Outcome o = bench({"sweep", "--backends=epoll", "--clients=1", "--repetitions=1", "--duration=0.2",
                           "--warmup=0", "--seed=5", "--out=" + out,
                           fmt::format("--builds=false=/bin/false,killed={},good={}", killed, BENCH_PATH)});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  const auto lines = non_progress_lines(o.err);
  ASSERT_EQ(lines.size(), 1u) << o.err;
  EXPECT_TRUE(lines[0].starts_with("bench: error: 2 of 3 runs failed")) << o.err;
  EXPECT_EQ(o.err.find("terminate"), std::string::npos) << o.err;

  for (const char* file : {"sweep.json", "summary.json", "benchmark.json", "bmf.json"})
    EXPECT_NO_THROW(read_json(out + "/good/" + file)) << file;
  EXPECT_NE(slurp(out + "/good/results.csv").find(",throughput_rps,"), std::string::npos);
  EXPECT_EQ(read_json(out + "/good/summary.json")["configurations"].size(), 1u);
  EXPECT_TRUE(read_json(out + "/good/bmf.json").contains("echo/epoll/clients:1/msg:128"));
  const auto expect_failed = [&](const std::string& build, const std::string& reason) {
    const auto plan = read_json(out + "/" + build + "/sweep.json");
    ASSERT_EQ(plan["runs"].size(), 1u);
    EXPECT_EQ(plan["runs"][0]["status"], "failed");
    EXPECT_NE(plan["runs"][0]["error"].get<std::string>().find(reason), std::string::npos) << plan["runs"][0];
    EXPECT_TRUE(read_json(out + "/" + build + "/summary.json")["configurations"].empty());
    EXPECT_TRUE(read_json(out + "/" + build + "/benchmark.json")["benchmarks"].empty());
  };
  expect_failed("false", "exit status 1");
  expect_failed("killed", "exit status 137");
}

// A tmpfs of its own, so the disk can fill up; unmounted (lazily) when the test ends.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const std::string& dir) : dir_(dir) {
    fs::create_directory(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=8m") == 0;
    error_ = mounted_ ? 0 : errno;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  std::string why() const { return std::strerror(error_); }

 private:
  std::string dir_;
  bool mounted_ = false;
  int error_ = 0;
};

// The disk fills midway: one line, exit status 1, the completed runs kept in sweep.json; once
// there is room again the same command resumes them and writes every summary.
TEST(SweepNeverAborts, AFullDiskEndsTheSweepWithOneLineAndKeepsTheCompletedRuns) {
  TempDir dir;
  SmallTmpfs disk(dir.file("disk"));
  ASSERT_TRUE(disk.mounted()) << "mount tmpfs: " << disk.why();
  const std::string out = dir.file("disk/sweep"), filler = dir.file("disk/filler"), once = dir.file("fill-once");
  std::ofstream(once) << "";
  // A build that fills the disk after its run, once the other build has completed a run.
  const std::string filling = dir.file("filling-bench");
  std::ofstream(filling) << fmt::format(
      "#!/bin/sh\n\"{}\" \"$@\"; status=$?\n"
      "if [ -e {} ] && ls {}/good/runs/*.json >/dev/null 2>&1; then rm {}; cat /dev/zero >{} 2>/dev/null; fi\n"
      "exit $status\n",
      BENCH_PATH, once, out, once, filler);
  ::chmod(filling.c_str(), 0755);
  const std::vector<std::string> args = {"sweep", "--backends=epoll", "--clients=1", "--repetitions=2", "--duration=0.2",
                                         "--warmup=0", "--seed=11", "--out=" + out,
                                         fmt::format("--builds=filling={},good={}", filling, BENCH_PATH)};
  const Outcome full = bench(args);
  EXPECT_EQ(full.exit_code, 1) << full.out << full.err;
  const auto lines = non_progress_lines(full.err);
  ASSERT_EQ(lines.size(), 1u) << full.err;
  EXPECT_NE(lines[0].find("No space left on device"), std::string::npos) << full.err;
  EXPECT_NE(lines[0].find("completed runs are kept"), std::string::npos) << full.err;
  ASSERT_FALSE(fs::exists(once)) << "the disk was never filled";
  std::size_t kept = 0;
  const auto plan = read_json(out + "/good/sweep.json");
  for (const auto& r : plan["runs"]) kept += r["status"] == "complete";
  EXPECT_GE(kept, 1u) << plan.dump(2);

  fs::remove(filler);
  const Outcome resumed = bench(args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("2 complete"), std::string::npos) << resumed.out;
  for (const char* build : {"good", "filling"})
    EXPECT_EQ(read_json(out + "/" + build + "/summary.json")["configurations"][0]["throughput_rps"]["n"], 2) << build;
}

}  // namespace
}  // namespace mux::test
