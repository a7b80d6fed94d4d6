// core/proc_files: listing and reading /proc while the processes in it come and go.
#include "core/proc_files.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/unique_fd.hpp"

namespace mux {
namespace {

// A child that waits until its pipe closes, then exits; reaped by reap().
struct Child {
  pid_t pid = -1;
  int release_fd = -1;
  Child() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid = ::fork();
    if (pid == 0) {
      ::close(fds[1]);
      char byte;
      while (::read(fds[0], &byte, 1) < 0 && errno == EINTR) {
      }
      ::_exit(0);
    }
    ::close(fds[0]);
    release_fd = fds[1];
  }
  void reap() {
    ::close(release_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
};

TEST(ProcFiles, ListsThisThreadAndAnOpenDescriptorInOrder) {
  const auto tids = numeric_entries("/proc/self/task");
  EXPECT_NE(std::find(tids.begin(), tids.end(), static_cast<int>(::syscall(SYS_gettid))), tids.end());
  const UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const auto fds = numeric_entries("/proc/self/fd");
  EXPECT_NE(std::find(fds.begin(), fds.end(), fd.get()), fds.end());
  EXPECT_TRUE(std::is_sorted(fds.begin(), fds.end()));
  // /proc holds this process and names that are not numbers ("self", "net"), which are not entries.
  const auto pids = numeric_entries("/proc");
  EXPECT_NE(std::find(pids.begin(), pids.end(), ::getpid()), pids.end());
  EXPECT_LT(static_cast<std::ptrdiff_t>(pids.size()), std::distance(std::filesystem::directory_iterator("/proc"), {}));
  EXPECT_TRUE(numeric_entries("/nonexistent-muxbench-dir").empty());
}

TEST(ProcFiles, ReadsAWholeFile) {
  const std::string stat = read_proc_file("/proc/self/stat");
  ASSERT_FALSE(stat.empty());
  EXPECT_EQ(stat.substr(0, stat.find(' ')), std::to_string(::getpid()));
  // Longer than one read: /proc/self/maps of a test binary is well over 4 KiB.
  const std::string maps = read_proc_file("/proc/self/maps");
  EXPECT_GT(maps.size(), 4096u);
  EXPECT_EQ(maps.back(), '\n');
}

TEST(ProcFiles, AFileOfAProcessThatExitedReadsAsEmptyWithoutThrowing) {
  Child child;
  const std::string path = fmt::format("/proc/{}/stat", child.pid);
  ASSERT_FALSE(read_proc_file(path).empty());
  // Opened while the process lives, read after it is gone: read(2) fails (ESRCH), which
  // libstdc++'s filebuf would throw out of an istreambuf_iterator.
  const UniqueFd open_before(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(open_before);
  child.reap();
  char byte;
  errno = 0;
  EXPECT_LT(::read(open_before.get(), &byte, 1), 0) << "the kernel no longer fails a read of a dead process's stat";
  EXPECT_EQ(read_to_end(open_before.get()), "");
  EXPECT_EQ(read_proc_file(path), "");
}

}  // namespace
}  // namespace mux
