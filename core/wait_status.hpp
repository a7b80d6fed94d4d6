#pragma once
// How a child process ended, in words, from its waitpid(2) status: "was killed by signal 9
// (Killed)" or "exited with status 1". One wording for every process bench reaps.
#include <sys/wait.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

namespace mux {

inline std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

}  // namespace mux
