#pragma once
// The server as a child process: `bench serve` exec'd from this binary, pinned to its own cores,
// in its own process group (Ctrl-C reaches only `bench`, which then stops it in order).
// The destructor always stops and reaps it, whatever happened before.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.hpp"
#include "core/cpu_set.hpp"
#include "core/net.hpp"
#include "core/unique_fd.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/server/started_server.hpp"
#include "harness/spec/server_spec.hpp"
#include "core/wait_status.hpp"
#include "harness/system/stop_signals.hpp"
#include "loadgen/load_config.hpp"

namespace mux {

class ServerProcess final : public StartedServer {
 public:
  struct Config {
    // What `bench serve` runs: one backend of the registry (not "all"), its protocol, backlog
    // and shape set by the run (pin_server_shape: the child resolves the same one).
    ServerSpec server;
    bool kernel_counters = true;  // count its syscalls, context switches... (--counters)
    double wait_s = server_wait_s(LoadConfig{}.timeout_s);  // the longest any wait on it lasts (--timeout + grace)
  };
  // Starts the server and waits until it listens (at most config.wait_s); throws UsageError
  // with the server's own one-line reason (port in use, io_uring disabled, ...) when it cannot.
  explicit ServerProcess(const Config& config);
  ~ServerProcess() override;

  pid_t pid() const { return pid_; }
  // Still running? Otherwise exit_description() says how it ended.
  bool alive() override;
  // Asks the server itself: getrusage in the child is exact to the µs for all its threads.
  double cpu_time_us() override;
  // Counted in the server (null if it does not answer).
  std::optional<KernelSnapshot> kernel_snapshot() override;
  // Asks the server how many it has accepted (false if it does not answer).
  bool has_accepted(std::uint64_t connections) override;
  std::string kernel_attribution() const override;
  // From the slot of bench's eBPF counter it handed the server: no round trip over the pipe.
  std::optional<BpfSyscallCounter::Counts> syscall_counts() const override;
  // The server's processes: the one started, then its workers (--server-processes); empty once gone.
  std::vector<pid_t> processes() const override;
  // One entry per loop, from its final stats (results.server_loops); null before stop().
  const nlohmann::json& loops() const { return loops_; }
  // The server's resident set, bytes (0 once it is gone).
  std::uint64_t resident_bytes() const override;
  // Asks it to stop (SIGTERM), collects its final counters, reaps it. A server that sends none
  // within wait_s is killed (unresponsive_reason() then says so) and the result is null.
  nlohmann::json stop();

 private:
  // The next line from the server; null when the deadline passes (then unresponsive_ says what
  // it did not do) or it closed the pipe.
  std::optional<std::string> read_line(ServerDeadline& deadline, const char* what);
  void kill_and_reap();
  double cpu_time_from_proc_us() const;
  std::optional<std::string> ask(const char* request);

  BpfSlot syscall_slot_;  // the server counts its system calls here, in bench's eBPF program
  UniqueFd pipe_;     // from the child
  UniqueFd control_;  // to the child
  std::uint64_t requests_sent_ = 0;
  std::string pending_;
  nlohmann::json loops_;
};

}  // namespace mux
