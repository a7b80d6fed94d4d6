#pragma once
// Any server as a backend (`bench --server-cmd='CMD … {port} …'`, or `… {path} …` over a Unix
// socket): the harness starts the command, pinned to the server's CPUs, in its own process
// group; waits until the port (or the socket path) accepts;
// measures its whole process tree (CPU time and kernel counters, by perf events inherited from
// its first process); and stops and reaps every process of the group, on error and Ctrl-C too.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/net.hpp"
#include "core/unique_fd.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/server/started_server.hpp"
#include "harness/spec/server_command_template.hpp"
#include "harness/spec/server_spec.hpp"
#include "harness/spec/transport.hpp"
#include "core/wait_status.hpp"
#include "harness/system/stop_signals.hpp"
#include "loadgen/load_config.hpp"

namespace mux {

class CommandServer final : public StartedServer {
 public:
  struct Config {
    // The command (server.command, a template, expanded here), its name (server.backend), where
    // it listens (host and port, 0: a port that is free now; or over a Unix socket, the path
    // {path} gives it), its CPUs and how long it may take to accept (server.start_timeout_s).
    ServerSpec server;
    bool kernel_counters = true;
    double wait_s = server_wait_s(LoadConfig{}.timeout_s);  // until it exits after SIGTERM (--timeout + grace)
  };
  // Starts it and waits until it accepts connections; throws UsageError (one line: what went
  // wrong and its stderr's last line) when it exits first or does not listen in time.
  explicit CommandServer(const Config& config);
  ~CommandServer() override;

  bool alive() override;
  double cpu_time_us() override;
  std::optional<KernelSnapshot> kernel_snapshot() override;
  // Its listening socket's accept queue is empty (read from /proc/net/tcp and tcp6); over a Unix
  // socket, which shows no queue there, true.
  bool has_accepted(std::uint64_t connections) override;
  std::vector<pid_t> processes() const override;
  std::uint64_t resident_bytes() const override;
  std::string kernel_attribution() const override;
  const std::string& command_line() const { return command_; }
  // SIGTERM to its process group, SIGKILL to what is left after wait_s (sooner after a stop
  // signal); reaps it.
  void stop();

 private:
  std::string stderr_tail() const;
  void stop_group(double wait_s);

  std::string command_;  // pid_ is also its process group's id
  UniqueFd stderr_;      // a memfd the command's stderr (and stdout) go to
  UniqueFd task_clock_;  // perf task-clock on its tree: CPU time in ns (-1: from /proc instead)
  KernelCounters counters_{kCountersTurnedOff};
  BoundSocketFile socket_file_;  // --transport=unix: the path, removed when it stops (if the server did not)
};

}  // namespace mux
