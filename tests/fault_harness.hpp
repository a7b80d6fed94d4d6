#pragma once
// A `bench serve` child process for fault tests: started with its stdout on a pipe (the
// "listening on" line gives the port), observed from outside through /proc (open fds, CPU
// time), stopped with SIGTERM, and always reaped. Plus blocking test clients.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"
#include "core/unique_fd.hpp"
#include "tests/test_clients.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The TCP sockets on 127.0.0.1:port (where ServeProcess's server listens), from one snapshot of
// /proc/net/tcp. The address matters: another test's client bound to another 127.0.0.x source
// can hold the same port number (the kernel only keeps a port unique per address), and counting
// it made a direct-descriptor server look as if it held more connections than it has.
struct PortSockets {
  // Accepted connections not closed yet: ESTABLISHED (01) or CLOSE_WAIT (08) with an inode. A
  // connection still in the accept queue has no socket file yet, so its inode reads 0.
  int open = 0;
  int accept_queue = -1;  // the listener's (LISTEN, 0A) rx_queue: connections not accepted yet; -1: no listener
};

// The sockets on 127.0.0.1:`port`. /proc/net/tcp is not one snapshot: it is read a page at a
// time, and a connection that moves (accepted, closed) between pages can be listed twice or
// not at all, so a connection counts once per inode, and the listener's queue is not
// subtracted from lines read at another moment (a server at its fd limit with a hundred
// connections arriving was once counted at 102 for 64 descriptors).
inline PortSockets tcp_sockets_on_port(std::uint16_t port) {
  std::istringstream in(slurp("/proc/net/tcp"));
  std::string line;
  std::getline(in, line);  // the header
  PortSockets p;
  std::set<std::string> open_inodes;
  const std::string local_address = fmt::format("0100007F:{:04X}", port);  // 127.0.0.1, little-endian hex
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (local != local_address) continue;
    if ((state == "01" || state == "08") && !inode.empty() && inode != "0") open_inodes.insert(inode);
    if (state == "0A" && queues.find(':') != std::string::npos)
      p.accept_queue = static_cast<int>(std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16));
  }
  p.open = static_cast<int>(open_inodes.size());
  return p;
}

class ServeProcess {
 public:
  struct Stopped {
    int exit_code = -1;
    std::string out, err;
    nlohmann::json counters;  // from the "stopped; {...}" line; null when missing
  };

  // `nofile`: soft and hard RLIMIT_NOFILE of the server (0: inherited). Both are set, since
  // `bench serve` raises its soft limit to the hard one.
  ServeProcess(const std::string& backend, const std::string& protocol, rlim_t nofile = 0)
      : direct_descriptors_(find_backend(backend) != nullptr && find_backend(backend)->capabilities.direct_descriptors) {
    err_path_ = dir_.file("stderr");
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    // One loop, whatever the machine's cores (the faults' subject is the loop, and its fds and
    // CPU are counted below); two for an entry that exists only with several loops.
    const BackendEntry* entry = find_backend(backend);
    const int loops = entry != nullptr && entry->capabilities.needs_shared_listener ? 2 : 1;
    std::vector<std::string> argv = {BENCH_PATH, "serve", "--backend=" + backend, "--protocol=" + protocol,
                                     "--port=0", fmt::format("--server-threads={}", loops)};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_storage = {process_tag()};
    for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
    std::vector<char*> env;
    for (auto& e : env_storage) env.push_back(e.data());
    env.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {  // only async-signal-safe calls from here on
      const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(out_pipe[1], 1);
      ::dup2(err, 2);
      ::close_range(3, ~0U, 0);  // no client socket of the test may live on in the server
      if (nofile != 0) {
        const rlimit rl{nofile, nofile};
        if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(126);
      }
      ::execve(args[0], args.data(), env.data());
      ::_exit(127);
    }
    ::close(out_pipe[1]);
    out_.reset(out_pipe[0]);
    const std::string line = read_line(std::chrono::seconds(5));
    const std::string_view marker = "listening on 127.0.0.1:";
    const auto at = line.find(marker);
    if (at == std::string::npos) {
      start_error_ = line + slurp(err_path_);
      return;
    }
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(at + marker.size())));
  }

  ~ServeProcess() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool started() const { return port_ != 0; }
  const std::string& start_error() const { return start_error_; }
  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }

  bool alive() {
    if (reaped_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == 0) return true;
    reaped_ = true;
    return false;
  }

  // Entries in /proc/PID/fd; for a backend whose connections are direct descriptors (no fds),
  // plus its connections still open: sockets on its port, established or half-closed.
  int fd_count() const {
    const int n = direct_descriptors_ ? open_server_sockets() : 0;
    return n + static_cast<int>(numeric_entries(fmt::format("/proc/{}/fd", pid_)).size());
  }

  // What fd_count() counted, for a failure message: each fd's target, and for a backend with
  // direct descriptors the /proc/net/tcp lines on its address.
  std::string fd_report() const {
    std::string report = fmt::format("server pid {}, port {}; fds:", pid_, port_);
    for (const int fd : numeric_entries(fmt::format("/proc/{}/fd", pid_))) {
      char target[256] = {};
      const ssize_t n = ::readlink(fmt::format("/proc/{}/fd/{}", pid_, fd).c_str(), target, sizeof target - 1);
      report += fmt::format(" {}={}", fd, n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?");
    }
    if (!direct_descriptors_) return report;
    report += "; /proc/net/tcp on its port:";
    std::istringstream table(slurp("/proc/net/tcp"));
    const std::string suffix = fmt::format(":{:04X}", port_);
    for (std::string line; std::getline(table, line);)
      if (line.find(suffix + " ") != std::string::npos) report += "\n" + line;
    return report;
  }

  // user + system CPU time of all its threads, living and dead (/proc/PID/stat), in seconds.
  double cpu_seconds() const {
    const std::string stat = slurp(fmt::format("/proc/{}/stat", pid_));
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream in(stat.substr(paren + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; in >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
      if (i == 14) utime = std::stoull(field);
      if (i == 15) {
        stime = std::stoull(field);
        break;
      }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

  // SIGTERM, then the rest of its stdout and its exit status (SIGKILL after `limit`).
  Stopped stop(std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    Stopped s;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + limit;
    s.out = rest_of_output(deadline);
    int status = 0;
    while (!reaped_) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        s.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      } else if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        s.exit_code = 128 + SIGKILL;
      } else {
        sleep_ms(5);
      }
    }
    s.err = slurp(err_path_);
    const std::string_view marker = "stopped; ";
    if (const auto at = s.out.find(marker); at != std::string::npos) {
      const auto end = s.out.find('\n', at);
      s.counters = nlohmann::json::parse(s.out.substr(at + marker.size(), end - at - marker.size()), nullptr, false);
      if (s.counters.is_discarded()) s.counters = nullptr;
    }
    return s;
  }

 private:
  std::string read_line(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    std::string line;
    char c;
    while (Clock::now() < deadline) {
      pollfd p{out_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (::read(out_.get(), &c, 1) != 1) break;
      if (c == '\n') break;
      line += c;
    }
    return line;
  }

  std::string rest_of_output(Clock::time_point deadline) {
    std::string out;
    char buf[4096];
    while (Clock::now() < deadline) {
      pollfd p{out_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::read(out_.get(), buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  TempDir dir_;
  std::string err_path_;
  // Connections on the server's port it has accepted and not closed yet (those still in the
  // listener's accept queue have no inode, so they are not counted: a server pausing its
  // accepts at EMFILE leaves up to a backlog of them there).
  int open_server_sockets() const {
    return tcp_sockets_on_port(port_).open;
  }

  bool direct_descriptors_;
  pid_t pid_ = -1;
  UniqueFd out_;
  std::uint16_t port_ = 0;
  std::string start_error_;
  bool reaped_ = false;
};

}  // namespace mux::test
