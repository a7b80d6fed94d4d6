#include "harness/system/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "harness/system/process_tree.hpp"

namespace mux {
namespace {

// The fds handed to a child are given at most this number (3, 4, 5: what `bench serve` reads).
constexpr int kHighestTarget = 63;

}  // namespace

pid_t spawn_child(const ChildSpec& spec) {
  // Everything the child needs is built before fork(): between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::pair<int, int>> fds = spec.fds;
  // The fds are first copied above every target number, then dup2'd to their numbers: a source
  // that sits on another's target (a pipe on fd 4 meant for fd 3, while fd 4 is another's
  // target) would otherwise be overwritten before it is copied. Just above the highest target,
  // not at a fixed 64: under `ulimit -n 65` a copy at 64 or above fails (EINVAL, EMFILE).
  int move_above = 0;
  for (const auto& [from, to] : fds) {
    if (to > kHighestTarget) throw std::logic_error(fmt::format("spawn_child: fd {} is above {}", to, kHighestTarget));
    move_above = std::max(move_above, to + 1);
  }
  // Made (cgroup, watchdog) before the first child.
  ProcessTree* tree = spec.join_tree ? &ProcessTree::get() : nullptr;
  if (spec.run) std::fflush(nullptr);  // the copy must not write what this process has buffered again
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork()");
  if (pid == 0) {
    if (spec.own_group) ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the direct child ends at once with bench, even by -9
    if (::getppid() != parent) ::_exit(127);  // bench died before the line above
    if (tree != nullptr) tree->join_from_child();  // before exec: whatever it forks is in the tree from the start
    if (spec.cpus) ::sched_setaffinity(0, sizeof *spec.cpus, &*spec.cpus);
    for (const int fd : spec.close_in_child) ::close(fd);
    if (spec.go_fd >= 0) {
      char byte = 0;
      while (::read(spec.go_fd, &byte, 1) < 0 && errno == EINTR) {
      }
      if (byte != 'g') ::_exit(127);
    }
    for (auto& [from, to] : fds)
      if ((from = ::fcntl(from, F_DUPFD_CLOEXEC, move_above)) < 0) ::_exit(127);  // no fd left: bench sees it exit
    for (const auto& [from, to] : fds)
      if (::dup2(from, to) < 0) ::_exit(127);  // the copy is not close-on-exec
    if (spec.run) {
      int code = 127;
      try {
        code = spec.run();
      } catch (...) {  // never out of spawn_child in the copy: it would go on as this process
      }
      ::_exit(code);
    }
    ::execv(spec.path.c_str(), argv.data());
    ::_exit(127);
  }
  // Also here: a signal to the group must not race the child's own setpgid.
  if (spec.own_group) ::setpgid(pid, pid);
  if (tree != nullptr) tree->adopt(pid, spec.own_group);
  return pid;
}

}  // namespace mux
