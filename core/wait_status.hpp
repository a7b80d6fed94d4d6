#pragma once
// How a child process ended, in words, from its waitpid(2) status: "was killed by signal 9
// (Killed)" or "exited with status 1". One wording for every process bench reaps.
#include <sys/types.h>
#include <sys/wait.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

namespace mux {

inline std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

// A server child's end, collected once: whoever reaps it (a poll, a blocking wait, a wait on
// its whole group) records the status here, and later questions are answered from it.
class ChildExit {
 public:
  // Still running? Reaps `pid` without waiting when it has ended.
  bool poll(pid_t pid) {
    if (reaped_ || pid <= 0) return false;
    if (::waitpid(pid, &status_, WNOHANG) == pid) reaped_ = true;
    return !reaped_;
  }
  void record(int status) {
    status_ = status;
    reaped_ = true;
  }
  bool reaped() const { return reaped_; }
  int status() const { return status_; }
  std::string description() const { return reaped_ ? describe_wait_status(status_) : "still running"; }

 private:
  int status_ = 0;
  bool reaped_ = false;
};

}  // namespace mux
