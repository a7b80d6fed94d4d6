#include "harness/server/command_server.hpp"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "core/thread_cpu.hpp"
#include "core/wait_status.hpp"
#include "core/clock.hpp"
#include "core/errno_text.hpp"
#include "core/proc_files.hpp"
#include "core/usage_error.hpp"
#include "harness/system/child_process.hpp"

namespace mux {
namespace {

// A command that failed to start gets this long to exit before its group is killed.
constexpr double kFailedStartGraceS = 1.0;

constexpr const char* kCommandServerAttribution =
    "the --server-cmd server's process tree: every process and thread its command creates, those that exit during "
    "the window included. It is counted from outside, by perf events opened on its first process before that ran "
    "the command and inherited by everything it creates: system calls by the tracepoints raw_syscalls:sys_enter "
    "and syscalls:sys_enter_* (\"perf_event\"), context switches, page faults and CPU migrations by perf software "
    "events; its CPU time by perf's task clock on the same tree. Counted too: the shell (/bin/sh -c) that runs the "
    "command, a few system calls at start-up, outside the window. A process started outside the tree on its behalf "
    "is not counted; kernel work done outside the processes (softirq, the loopback's other side) is not attributed "
    "to it";

bool accepts(const SocketAddress& address) {
  return first_accepting({address}, std::chrono::milliseconds(200)) != nullptr;
}

// A port free now on `host`: the kernel picks it for a socket that is closed at once. Another
// program could take it before the command binds it; the command then fails to listen, said so.
std::uint16_t free_port(const std::string& host) {
  const UniqueFd fd = listen_tcp(SocketAddress::parse(host, 0), 1);
  return local_address(fd.get()).port();
}

// Processes of group `pgid` (not zombies), the leader first.
std::vector<pid_t> group_members(pid_t pgid) {
  std::vector<pid_t> pids;
  if (pgid <= 0) return pids;
  for (const pid_t pid : numeric_entries("/proc")) {
    if (pid <= 0) continue;
    const std::string text = read_proc_file(fmt::format("/proc/{}/stat", pid));  // "" once it exited
    const auto paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(text.c_str() + paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z') pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end(), [pgid](pid_t a, pid_t b) { return (a == pgid) > (b == pgid) || (a != pgid && b != pgid && a < b); });
  return pids;
}

// Connections waiting in the accept queue of every listening TCP socket on `port` (the
// rx_queue column of /proc/net/tcp for a socket in state 0A, LISTEN).
std::uint64_t accept_queue(std::uint16_t port) {
  std::uint64_t waiting = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues;
      if (!(fields >> slot >> local >> remote >> state >> queues) || state != "0A") continue;
      const auto colon = local.rfind(':');
      if (colon == std::string::npos || std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
      waiting += std::stoull(queues.substr(queues.find(':') + 1), nullptr, 16);
    }
  }
  return waiting;
}

UniqueFd open_task_clock(pid_t pid) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.inherit = 1;  // every thread and process it creates, folded in as they exit
  return UniqueFd(static_cast<int>(::syscall(SYS_perf_event_open, &attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC)));
}

}  // namespace

CommandServer::CommandServer(const Config& config)
    : StartedServer(config.wait_s), socket_file_(config.server.socket_path) {
  const ServerSpec& spec = config.server;
  const bool unix_socket = spec.transport == kTransportUnix;
  const std::uint16_t port = unix_socket ? 0 : spec.port != 0 ? spec.port : free_port(spec.host);
  address_ = unix_socket ? SocketAddress::unix_socket(spec.socket_path)
                         : SocketAddress::parse(spec.host, port).reachable_locally();
  // Waiting until the port accepts would find another server already there and measure it.
  if (accepts(address_))
    throw UsageError(unix_socket ? fmt::format("--socket-path={}: a server already accepts connections there; stop it "
                                               "or choose another path",
                                               spec.socket_path)
                                 : fmt::format("--port={}: something already accepts connections on {}; stop it or "
                                               "pick another --port (0: a free one)",
                                               port, address_.to_string()));
  // A socket file nobody accepts on is what a killed server left: its path could not be bound
  // again, so it goes (as `bench serve` replaces one).
  struct stat st {};
  if (unix_socket && ::lstat(spec.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
    ::unlink(spec.socket_path.c_str());
  command_ = expand_server_command(spec.command, {spec.host, port, format_cpu_list(spec.cpus), spec.socket_path});

  ChildSpec child{.path = "/bin/sh", .argv = {"/bin/sh", "-c", command_}, .fds = {}, .cpus = cpu_set_t{},
                  .own_group = true, .go_fd = -1, .close_in_child = {}, .run = {}, .join_tree = true};
  CPU_ZERO(&*child.cpus);
  for (int c : spec.cpus.empty() ? allowed_cpus() : spec.cpus) CPU_SET(c, &*child.cpus);
  stderr_.reset(::memfd_create("server-cmd-output", MFD_CLOEXEC));
  const UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int go[2];
  if (!stderr_ || !devnull || ::pipe2(go, O_CLOEXEC) != 0)
    throw std::runtime_error(fmt::format("--server-cmd: setting up its output: {}", errno_text(errno)));
  child.fds = {{devnull.get(), 0}, {stderr_.get(), 1}, {stderr_.get(), 2}};
  // bench opens the counters on its first process, then lets it run the command.
  child.go_fd = go[0];
  child.close_in_child = {go[1]};
  // Its processes are reaped here even when the command's first process exits before them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  try {
    pid_ = spawn_child(child);
  } catch (...) {
    ::close(go[0]);
    ::close(go[1]);
    throw;
  }
  ::close(go[0]);
  counters_ = config.kernel_counters ? KernelCounters::open_for_process_tree(pid_) : KernelCounters(kCountersTurnedOff);
  task_clock_ = open_task_clock(pid_);
  const char byte = 'g';
  const bool started = ::write(go[1], &byte, 1) == 1;
  ::close(go[1]);
  try {
    ServerDeadline deadline(spec.start_timeout_s);
    for (;;) {
      if (!started || !alive()) {
        const bool daemonized = exit_.reaped() && WIFEXITED(exit_.status()) && WEXITSTATUS(exit_.status()) == 0;
        throw UsageError(fmt::format("--server-cmd: `{}` {} before accepting connections on {}{}{}", command_,
                                     exit_description(), address_.to_string(), stderr_tail(),
                                     daemonized ? "; a server that daemonizes must stay in the foreground (nginx: "
                                                  "-g 'daemon off;')"
                                                : ""));
      }
      if (accepts(address_)) return;
      if (deadline.passed() && deadline.signalled())  // Ctrl-C: not bad input
        throw std::runtime_error(fmt::format("--server-cmd: {} before `{}` accepted connections on {}",
                                             interrupted_by(stop_signal()), command_, address_.to_string()));
      if (deadline.passed())
        throw UsageError(fmt::format("--server-cmd: `{}` did not accept connections on {} within {:g} s{}; check "
                                     "that it listens on {}, or raise --server-start-timeout",
                                     command_, address_.to_string(), spec.start_timeout_s, stderr_tail(),
                                     unix_socket ? "{path}" : "{host}:{port}"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (...) {
    stop_group(kFailedStartGraceS);
    throw;
  }
}

CommandServer::~CommandServer() { stop_group(wait_s_); }

void CommandServer::stop() { stop_group(wait_s_); }

std::string CommandServer::stderr_tail() const {
  struct stat st {};
  if (!stderr_ || ::fstat(stderr_.get(), &st) != 0 || st.st_size == 0) return "; it printed nothing";
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t from = size > 4096 ? size - 4096 : 0;
  std::string text(size - from, '\0');
  const ssize_t n = ::pread(stderr_.get(), text.data(), text.size(), static_cast<off_t>(from));
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  const auto nl = text.rfind('\n');
  return fmt::format("; its last line: {}", nl == std::string::npos ? text : text.substr(nl + 1));
}

bool CommandServer::alive() { return exit_.poll(pid_); }

double CommandServer::cpu_time_us() {
  std::uint64_t ns = 0;
  if (task_clock_ && ::read(task_clock_.get(), &ns, sizeof ns) == sizeof ns) return static_cast<double>(ns) / 1e3;
  return processes_stat_cpu_us(processes());  // perf refused: without the processes that exited
}

std::optional<KernelSnapshot> CommandServer::kernel_snapshot() { return counters_.snapshot(); }

bool CommandServer::has_accepted(std::uint64_t) { return address_.is_unix() || accept_queue(address_.port()) == 0; }

std::vector<pid_t> CommandServer::processes() const { return exit_.reaped() ? std::vector<pid_t>{} : group_members(pid_); }

std::uint64_t CommandServer::resident_bytes() const { return processes_resident_bytes(processes()); }

std::string CommandServer::kernel_attribution() const { return kCommandServerAttribution; }

// A server that has not exited within wait_s (nginx's workers finish their requests first) is
// stopped or frozen: what is left of its group is killed, and the run is marked incomplete.
void CommandServer::stop_group(double wait_s) {
  if (pid_ <= 0) return;
  const auto reap_group = [this] {
    int status = 0;
    for (pid_t p; (p = ::waitpid(-pid_, &status, WNOHANG)) > 0;)
      if (p == pid_) exit_.record(status);
  };
  ::kill(-pid_, SIGTERM);
  ServerDeadline deadline(wait_s);
  for (reap_group(); !group_members(pid_).empty() && !deadline.passed(); reap_group())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!group_members(pid_).empty()) {
    unresponsive_ = no_answer_reason("exit after SIGTERM", deadline);
    ::kill(-pid_, SIGKILL);
  }
  // Blocking now: after SIGKILL every member ends; the ones it forked are reaped here too
  // (this process is their subreaper).
  int status = 0;
  for (pid_t p; (p = ::waitpid(-pid_, &status, 0)) > 0 || (p < 0 && errno == EINTR);)
    if (p == pid_) exit_.record(status);
  if (!exit_.reaped()) exit_.record(0);  // never seen to exit (reaped elsewhere): it has ended all the same
  pid_ = -1;
}

}  // namespace mux
