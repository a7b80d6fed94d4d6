#include "harness/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/process_tree.hpp"

namespace mux {
namespace {

// The fds handed to a child are first copied at or above this, then dup2'd to their numbers:
// a source that sits on another's target number (a pipe on fd 4 meant for fd 3, while fd 4
// is another's target) would otherwise be overwritten before it is copied.
constexpr int kMoveAbove = 64;

}  // namespace

pid_t spawn_child(const ChildSpec& spec) {
  // Everything the child needs is built before fork(): between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::pair<int, int>> fds = spec.fds;
  for (const auto& [from, to] : fds)
    if (to >= kMoveAbove) throw std::logic_error(fmt::format("spawn_child: fd {} is not below {}", to, kMoveAbove));
  ProcessTree& tree = ProcessTree::get();  // made (cgroup, watchdog) before the first child
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork(): {}", std::strerror(errno)));
  if (pid == 0) {
    if (spec.own_group) ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the direct child ends at once with bench, even by -9
    if (::getppid() != parent) ::_exit(127);  // bench died before the line above
    tree.join_from_child();  // before exec: whatever it forks is in the tree from the start
    if (spec.cpus) ::sched_setaffinity(0, sizeof *spec.cpus, &*spec.cpus);
    for (const int fd : spec.close_in_child) ::close(fd);
    if (spec.go_fd >= 0) {
      char byte = 0;
      while (::read(spec.go_fd, &byte, 1) < 0 && errno == EINTR) {
      }
      if (byte != 'g') ::_exit(127);
    }
    for (auto& [from, to] : fds) from = ::fcntl(from, F_DUPFD_CLOEXEC, kMoveAbove);
    for (const auto& [from, to] : fds) ::dup2(from, to);  // the copy is not close-on-exec
    ::execv(spec.path.c_str(), argv.data());
    ::_exit(127);
  }
  // Also here: a signal to the group must not race the child's own setpgid.
  if (spec.own_group) ::setpgid(pid, pid);
  tree.adopt(pid, spec.own_group);
  return pid;
}

}  // namespace mux
