#pragma once
// Runs the real `bench` binary the way a user does, and inspects what it left behind.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/proc_files.hpp"
#include "tests/temp_dir.hpp"
#include "harness/system/process_tree.hpp"

namespace mux::test {

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// A file's contents; "" when it cannot be opened or read (a /proc file of a process that exited).
inline std::string slurp(const std::string& path) { return read_proc_file(path); }

// Every bench started by a test carries this tag in its environment (and so does its server
// child), so a test can prove that no process of its own is left running.
inline std::string process_tag() {
  static const std::string tag = fmt::format("MUXBENCH_TEST_TAG=t{}", ::getpid());
  return tag;
}

inline std::vector<pid_t> tagged_processes() {
  std::vector<pid_t> found;
  for (const pid_t pid : numeric_entries("/proc")) {
    if (pid <= 0 || pid == ::getpid()) continue;
    const std::string env = slurp(fmt::format("/proc/{}/environ", pid));
    std::string status = slurp(fmt::format("/proc/{}/stat", pid));
    if (status.find(") Z") != std::string::npos) continue;  // a zombie runs nothing
    for (std::size_t at = 0; (at = env.find(process_tag(), at)) != std::string::npos; ++at) {
      const std::size_t end = at + process_tag().size();
      if ((at == 0 || env[at - 1] == '\0') && (end == env.size() || env[end] == '\0')) {
        found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

// Starts `argv`; `during(pid)` runs while it is alive (to send signals); returns its outcome.
inline Outcome run(std::vector<std::string> argv, const std::function<void(pid_t)>& during = {},
                   const std::vector<std::string>& extra_env = {}) {
  TempDir io;
  const std::string out_path = io.file("stdout"), err_path = io.file("stderr");
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> env_storage = {process_tag()};
  for (const auto& e : extra_env) env_storage.push_back(e);
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  std::vector<char*> env;
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  if (during) during(pid);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = slurp(out_path);
  o.err = slurp(err_path);
  return o;
}

inline Outcome bench(std::vector<std::string> args, const std::function<void(pid_t)>& during = {},
                     const std::vector<std::string>& extra_env = {}) {
  args.insert(args.begin(), BENCH_PATH);
  return run(std::move(args), during, extra_env);
}

// bench measures nothing, says so and exits 1, when a closed loop with a request outstanding
// on every connection gets no reply in its whole window. On a loaded machine the first round
// trips (100 clients' 256 KiB echoes, or any request while another process holds the cores)
// can outlast a short window. A test that needs replies waits for them: the run is repeated
// with its warm-up and window doubled until replies arrive, the window reaching kLongestWindowS
// at most. Any other outcome (an error, a failure of another kind, success) is returned as is.
inline Outcome bench_until_replies(const std::vector<std::string>& args, double warmup_s, double duration_s) {
  constexpr double kLongestWindowS = 8;
  for (;;) {
    std::vector<std::string> run_args = args;
    run_args.push_back(fmt::format("--warmup={}", warmup_s));
    run_args.push_back(fmt::format("--duration={}", duration_s));
    Outcome o = bench(run_args);
    const bool no_reply = o.exit_code == 1 && o.out.find("no reply arrived in the") != std::string::npos;
    if (!no_reply || duration_s * 2 > kLongestWindowS) return o;
    warmup_s *= 2;
    duration_s *= 2;
  }
}

inline nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(slurp(path));
}

// The direct children of `pid` (the server process of a running bench).
// The children `pid` started for its run (servers, load processes, a sweep's runs), without
// its process-tree watchdog (harness/system/process_tree.hpp), which is a child too.
inline std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> kids;
  std::istringstream in(slurp(fmt::format("/proc/{}/task/{}/children", pid, pid)));
  for (pid_t k; in >> k;)
    if (slurp(fmt::format("/proc/{}/comm", k)) != std::string(kWatchdogName) + "\n") kids.push_back(k);
  return kids;
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Waits until the standard output of the running process `pid` (run() sends it to a file)
// holds `text`; false after `timeout_ms`. A test that signals a run midway waits for bench's
// table header, printed once every connection is open, rather than for a fixed time, which a
// sanitized build on a loaded machine can outlast before it measures anything.
inline bool wait_for_stdout(pid_t pid, const std::string& text, int timeout_ms = 60'000) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    // Resolved each time: right after fork() the child has not yet moved its stdout to the file.
    char target[4096];
    const ssize_t n = ::readlink(fmt::format("/proc/{}/fd/1", pid).c_str(), target, sizeof target - 1);
    if (n <= 0) return false;  // it has ended
    const std::string path(target, static_cast<std::size_t>(n));
    if (path.ends_with("/stdout") && slurp(path).find(text) != std::string::npos) return true;
    sleep_ms(10);
  }
  return false;
}
// What wait_for_stdout() waits for: the table header's column names.
inline constexpr const char* kTableHeader = "req/s";

}  // namespace mux::test
