#include "harness/server/server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/thread_cpu.hpp"
#include "core/wait_status.hpp"
#include "core/clock.hpp"
#include "harness/system/child_process.hpp"
#include "harness/spec/options.hpp"
#include "harness/server/serve_protocol.hpp"

namespace mux {
namespace {

using serve_protocol::kControlFd;
using serve_protocol::kReadyFd;
using serve_protocol::kSyscallCountsFd;
using serve_protocol::kSyscallProcessesFd;

// What its kernel counters include (results.kernel_counters.server.attribution).
constexpr const char* kAttribution =
    "the server process (bench serve) with all its threads, threads that exit during the window included: its "
    "system calls are counted by process id (syscalls_counted_by \"ebpf\": bench's eBPF program at fentry of "
    "x64_sys_call or on the raw tracepoint sys_enter, as syscall_counting_method says, in the server's own slot; "
    "worker processes it forks are added by their ids) or, where bpf(2) is refused, by perf tracepoint events "
    "opened on its one thread before it starts any other and inherited by every thread and process it creates "
    "(\"perf_event\"). Either way per-connection threads and io_uring's io-wq workers and SQPOLL thread (threads "
    "of the ring owner) count; those io_uring threads make no "
    "system calls of their own: the operations they run are not system calls, the io_uring_enter that submitted "
    "them is. Context switches and page faults come from getrusage(RUSAGE_SELF), which covers every thread too. "
    "Included: its control thread's few syscalls when bench asks for the counters at the window's edges. Kernel "
    "work done outside the process (softirq, the loopback's other side) is not attributed to it";

}  // namespace

ServerProcess::ServerProcess(const Config& config) : StartedServer(config.wait_s) {
  // The server's own flags from its spec; then what only bench and its child share (serve_protocol).
  std::vector<std::string> args = {"bench", "serve"};
  std::ranges::move(server_arguments(config.server, ServerCommand::serve), std::back_inserter(args));
  args.insert(args.end(), {fmt::format("--ready-fd={}", kReadyFd), fmt::format("--control-fd={}", kControlFd)});
  if (config.kernel_counters) args.push_back("--kernel-counters");
  // One eBPF program counts both sides: the server gets a slot of bench's (a second program
  // would cost every system call of both sides another run). Refused: the server tries alone.
  std::string no_ebpf;
  if (config.kernel_counters) syscall_slot_ = BpfSlot::acquire(&no_ebpf);
  if (syscall_slot_)
    args.push_back("--syscall-counter=" +
                   SyscallCounterHandoff{kSyscallProcessesFd, kSyscallCountsFd, syscall_slot_.slot(),
                                         syscall_slot_.counter().counts_migrations()}
                       .to_argument());
  // The child's affinity is set between fork and exec: it must not inherit the load
  // generator's cores, and `--server-cpus` is then checked against what it was given.
  ChildSpec child{.path = "/proc/self/exe", .argv = args, .fds = {}, .cpus = cpu_set_t{}, .own_group = true,
                  .go_fd = -1, .close_in_child = {}, .run = {}, .join_tree = true};
  CPU_ZERO(&*child.cpus);
  for (int c : config.server.cpus.empty() ? allowed_cpus() : config.server.cpus) CPU_SET(c, &*child.cpus);
  if (syscall_slot_) {
    child.fds.emplace_back(syscall_slot_.counter().processes_fd(), kSyscallProcessesFd);
    child.fds.emplace_back(syscall_slot_.counter().counts_fd(), kSyscallCountsFd);
  }

  int fds[2], control[2];
  if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(control, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("pipe2(): {}", std::strerror(errno)));
  child.fds.emplace_back(fds[1], kReadyFd);
  child.fds.emplace_back(control[0], kControlFd);
  pid_ = spawn_child(child);
  ::close(fds[1]);
  ::close(control[0]);
  pipe_.reset(fds[0]);
  control_.reset(control[1]);
  // A request to a server that reads none (stopped) fills the pipe: the write fails, not waits.
  ::fcntl(control_.get(), F_SETFL, O_NONBLOCK);

  ServerDeadline deadline(wait_s_);
  const auto line = read_line(deadline, "start listening");
  if (line && line->starts_with("ready ")) {
    address_ = parse_target(line->substr(6));
    return;
  }
  kill_and_reap();
  if (line && line->starts_with("error ")) throw UsageError(line->substr(6));
  throw std::runtime_error(fmt::format("the {} server did not start listening ({})", config.server.backend,
                                       line ? *line : !unresponsive_.empty() ? unresponsive_ : exit_description()));
}

ServerProcess::~ServerProcess() { kill_and_reap(); }

std::optional<std::string> ServerProcess::read_line(ServerDeadline& deadline, const char* what) {
  for (;;) {
    if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    if (!unresponsive_.empty()) return std::nullopt;
    if (wait_readable(pipe_.get(), deadline) == WaitEnd::timed_out) {
      unresponsive_ = no_answer_reason(what, deadline);
      return std::nullopt;
    }
    char buf[4096];
    const ssize_t n = ::read(pipe_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return std::nullopt;  // the server closed the pipe: it is gone
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

bool ServerProcess::alive() { return exit_.poll(pid_); }

// Sends "REQUEST SEQ\n" on the control pipe and returns VALUE from the "REQUEST SEQ VALUE"
// reply. The number pairs each reply with its request: a reply that comes after we gave up
// waiting (a server busy with 10,000 threads can be slow) is recognised and dropped later.
// A server that once did not answer is not asked again: each question would hold bench for
// another wait_s_.
std::optional<std::string> ServerProcess::ask(const char* request) {
  const std::uint64_t seq = ++requests_sent_;
  const std::string line = fmt::format("{} {}\n", request, seq);
  if (!unresponsive_.empty() || !alive() ||
      ::write(control_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return std::nullopt;
  const std::string prefix = fmt::format("{} {} ", request, seq);
  ServerDeadline deadline(wait_s_);
  const std::string what = fmt::format("answer bench's \"{}\" request", request);
  while (auto reply = read_line(deadline, what.c_str())) {
    if (reply->starts_with(prefix)) return reply->substr(prefix.size());
  }
  return std::nullopt;
}

double ServerProcess::cpu_time_us() {
  if (const auto us = ask(serve_protocol::kRequestCpu)) return std::stod(*us);
  return cpu_time_from_proc_us();
}

std::optional<KernelSnapshot> ServerProcess::kernel_snapshot() {
  const auto reply = ask(serve_protocol::kRequestKernel);
  if (!reply) return std::nullopt;
  const auto json = nlohmann::json::parse(*reply, nullptr, false);
  if (json.is_discarded()) return std::nullopt;
  return snapshot_from_json(json);
}

std::optional<BpfSyscallCounter::Counts> ServerProcess::syscall_counts() const {
  if (!syscall_slot_) return std::nullopt;
  return syscall_slot_.counter().read(syscall_slot_.slot());
}

bool ServerProcess::has_accepted(std::uint64_t connections) {
  const auto n = ask(serve_protocol::kRequestAccepted);
  return n && std::stoull(*n) >= connections;
}

std::string ServerProcess::kernel_attribution() const { return kAttribution; }

// Fallback: utime + stime from /proc/PID/stat, in clock ticks (10 ms).
double ServerProcess::cpu_time_from_proc_us() const { return processes_stat_cpu_us({pid_}); }

std::vector<pid_t> ServerProcess::processes() const {
  std::vector<pid_t> pids;
  if (pid_ <= 0 || exit_.reaped()) return pids;
  pids.push_back(pid_);
  std::ifstream children(fmt::format("/proc/{}/task/{}/children", pid_, pid_));
  for (pid_t child; children >> child;) pids.push_back(child);
  return pids;
}

std::uint64_t ServerProcess::resident_bytes() const { return processes_resident_bytes(processes()); }

nlohmann::json ServerProcess::stop() {
  nlohmann::json stats;
  if (alive() && unresponsive_.empty()) {
    ::kill(pid_, SIGTERM);
    ServerDeadline deadline(wait_s_);
    while (auto line = read_line(deadline, "send its final counters after SIGTERM")) {
      if (line->starts_with("stats ")) {
        stats = nlohmann::json::parse(line->substr(6), nullptr, false);
        if (stats.is_object() && stats.contains(serve_protocol::kLoopsKey)) {
          loops_ = stats[serve_protocol::kLoopsKey];
          stats.erase(serve_protocol::kLoopsKey);
        }
        break;
      }
    }
  }
  kill_and_reap();
  return stats;
}

// SIGTERM, and SIGKILL when it has not exited within wait_s_ (at once for a server that
// already stopped answering: a stopped process does not act on SIGTERM until continued).
void ServerProcess::kill_and_reap() {
  if (pid_ <= 0 || exit_.reaped()) return;
  if (unresponsive_.empty()) {
    ::kill(pid_, SIGTERM);
    for (ServerDeadline deadline(wait_s_); alive();) {
      if (deadline.passed()) {
        unresponsive_ = no_answer_reason("exit after SIGTERM", deadline);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!alive()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_.record(status);
}

}  // namespace mux
