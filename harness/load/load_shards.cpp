#include "harness/load/load_shards.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/wait_status.hpp"
#include "core/clock.hpp"
#include "core/limits.hpp"
#include "core/usage_error.hpp"
#include "harness/system/child_process.hpp"
#include "loadgen/load_wire.hpp"

namespace mux {
namespace {

constexpr int kShardControlFd = 3;  // bench -> child
constexpr int kShardReportFd = 4;   // child -> bench
constexpr std::uint64_t kConnectTimeoutNs = 120'000'000'000ULL;

bool write_all(int fd, const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// One line from `fd`, waiting at most until `deadline_ns` (UINT64_MAX: forever); nullopt on
// EOF or timeout.
std::optional<std::string> read_line_from(int fd, std::string& pending, std::uint64_t deadline_ns) {
  for (;;) {
    if (const auto nl = pending.find('\n'); nl != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return line;
    }
    int wait_ms = -1;
    if (deadline_ns != UINT64_MAX) {
      const std::uint64_t now = now_ns();
      if (now >= deadline_ns) return std::nullopt;
      wait_ms = static_cast<int>(std::min<std::uint64_t>((deadline_ns - now) / 1'000'000 + 1, 1'000'000));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, wait_ms);
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending.append(buf, static_cast<std::size_t>(n));
  }
}

std::size_t share(std::size_t total, std::size_t parts, std::size_t index) {
  return total / parts + (index < total % parts ? 1 : 0);
}

}  // namespace

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

ShardReport measure_shard(LoadGenerator& load, std::size_t clients, double rss0,
                          const std::function<bool(std::uint64_t)>& watch_until, const KernelCounters* counters) {
  const bool measured = !watch_until(load.measure_start_ns());
  const double cpu0 = process_cpu_us();
  const std::optional<KernelSnapshot> kernel0 = counters ? std::optional(counters->snapshot()) : std::nullopt;
  const double rss1 = static_cast<double>(resident_bytes());
  watch_until(load.end_ns());
  const double cpu1 = process_cpu_us();
  const std::optional<KernelSnapshot> kernel1 = counters ? std::optional(counters->snapshot()) : std::nullopt;
  return {.pid = ::getpid(), .host = host_name(), .clients = clients, .load = load.join(),
          .cpu_us = measured ? std::optional<double>(cpu1 - cpu0) : std::nullopt, .memory_bytes = rss1 - rss0,
          .kernel = measured && kernel0 && kernel1 ? std::optional(snapshot_window(*kernel0, *kernel1)) : std::nullopt,
          .failure = {}};
}

LoadConfig shard_config(const LoadConfig& config, std::size_t processes, std::size_t index) {
  LoadConfig c = config;
  c.clients = share(config.clients, processes, index);
  c.idle = share(config.idle, processes, index);
  c.threads = shard_threads(config.threads, processes);
  // Thread j of process i on cpus[(i * threads + j) % n]: the processes' threads spread over the
  // shared CPUs as one process's would (LoadGenerator pins thread j to cpus[j % n]).
  if (!c.cpus.empty())
    std::rotate(c.cpus.begin(), c.cpus.begin() + static_cast<std::ptrdiff_t>((index * c.threads) % c.cpus.size()),
                c.cpus.end());
  // The same rate per connection in every process: the total is the one asked for.
  c.rate = config.clients > 0 ? config.rate * static_cast<double>(c.clients) / static_cast<double>(config.clients) : 0;
  c.seed = config.seed + index;  // independent Poisson streams
  return c;
}

LoadShards::LoadShards(const LoadConfig& config, std::size_t processes, std::function<void(pid_t)> on_spawn,
                       std::function<void(pid_t)> on_reap)
    : warmup_s_(config.warmup_s), duration_s_(config.duration_s), on_reap_(std::move(on_reap)) {
  children_.resize(processes);
  for (std::size_t i = 0; i < processes; ++i) {
    Child& c = children_[i];
    const LoadConfig mine = shard_config(config, processes, i);
    c.clients = mine.clients;
    int control[2], report[2];
    if (::pipe2(control, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe2(): {}", std::strerror(errno)));
    if (::pipe2(report, O_CLOEXEC) != 0) {
      ::close(control[0]);
      ::close(control[1]);
      throw std::runtime_error(fmt::format("pipe2(): {}", std::strerror(errno)));
    }
    try {
      // In bench's process group, as before: the terminal's Ctrl-C reaches it too.
      c.pid = spawn_child({.path = "/proc/self/exe", .argv = {"bench", "load-shard"},
                           .fds = {{control[0], kShardControlFd}, {report[1], kShardReportFd}}, .cpus = std::nullopt,
                           .own_group = false, .go_fd = -1, .close_in_child = {}, .run = {}, .join_tree = true});
    } catch (...) {
      for (int fd : {control[0], control[1], report[0], report[1]}) ::close(fd);
      throw;
    }
    if (on_spawn) on_spawn(c.pid);
    ::close(control[0]);
    ::close(report[1]);
    c.control.reset(control[1]);
    c.report.reset(report[0]);
    c.result.pid = c.pid;
    c.result.clients = mine.clients;
    send(c, nlohmann::json(mine).dump() + "\n");
  }
}

LoadShards::~LoadShards() {
  for (Child& c : children_) {
    if (c.pid <= 0 || c.reaped) continue;
    ::kill(c.pid, SIGKILL);
    reap(c, true);
  }
}

void LoadShards::send(Child& c, const std::string& line) {
  write_all(c.control.get(), line);  // a dead child is noticed by failure() and join()
}

std::optional<std::string> LoadShards::read_line(Child& c, std::uint64_t deadline_ns) {
  return read_line_from(c.report.get(), c.pending, deadline_ns);
}

bool LoadShards::reap(Child& c, bool wait) {
  if (c.reaped) return true;
  if (::waitpid(c.pid, &c.status, wait ? 0 : WNOHANG) == c.pid) {
    c.reaped = true;
    if (on_reap_) on_reap_(c.pid);
  }
  return c.reaped;
}

std::string LoadShards::describe_exit(const Child& c) {
  if (!c.reaped) return "did not answer";
  return describe_wait_status(c.status);
}

void LoadShards::start(const std::function<void()>& before_clock) {
  const std::uint64_t deadline = now_ns() + kConnectTimeoutNs;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    const auto line = read_line(c, deadline);
    if (line && *line == "ready") continue;
    if (line && line->starts_with("error ")) throw UsageError(line->substr(6));
    if (!line) reap(c, false);
    throw std::runtime_error(fmt::format("load process {} (pid {}) {} while connecting", i, c.pid,
                                         line ? "said: " + *line : describe_exit(c)));
  }
  if (before_clock) before_clock();
  start_ns_ = now_ns() + kShardStartMarginNs;
  measure_ns_ = start_ns_ + seconds_to_ns(warmup_s_);
  end_ns_ = measure_ns_ + seconds_to_ns(duration_s_);
  for (Child& c : children_) send(c, fmt::format("start {}\n", start_ns_));
}

void LoadShards::request_stop() {
  if (stop_ns_ != UINT64_MAX) return;
  stop_ns_ = now_ns();
  for (Child& c : children_)
    if (!c.reaped) send(c, fmt::format("stop {}\n", stop_ns_));
}

LoadGenerator::Window LoadShards::measured_window() const {
  const std::uint64_t end = std::min(end_ns_, stop_ns_);
  return {measure_ns_, std::max(measure_ns_, end)};
}

// A process that exited has either sent its result (read it now) or died.
std::string LoadShards::failure() {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    if (c.reported || !reap(c, false)) continue;
    collect(c, now_ns() + 1'000'000'000);  // it has exited: its pipe ends (EOF) at once
    if (!c.reported) return c.result.failure = fmt::format("load process {} (pid {}) {} during the run", i, c.pid, describe_exit(c));
  }
  return {};
}

void LoadShards::collect(Child& c, std::uint64_t deadline_ns) {
  while (!c.reported) {
    const auto line = read_line(c, deadline_ns);
    if (!line) return;
    if (!line->starts_with("result ")) continue;
    c.result = nlohmann::json::parse(line->substr(7)).get<ShardReport>();
    c.reported = true;
  }
}

std::vector<ShardReport> LoadShards::join(std::uint64_t deadline_ns) {
  std::vector<ShardReport> reports;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    collect(c, deadline_ns);
    if (!c.reported) {
      ::kill(c.pid, SIGKILL);
      reap(c, true);
      if (c.result.failure.empty())
        c.result.failure = fmt::format("load process {} (pid {}) {} before reporting its result", i, c.pid, describe_exit(c));
    } else {
      reap(c, true);
    }
    if (c.result.host.empty()) c.result.host = host_name();
    reports.push_back(c.result);
  }
  return reports;
}

int load_shard_command(int, char**) {
  // bench coordinates: Ctrl-C and a terminal's hangup (SIGHUP, to the whole foreground group)
  // reach it, and it sends the stop.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  std::string pending;
  const auto say = [](const std::string& line) { return write_all(kShardReportFd, line + "\n"); };
  const auto config_line = read_line_from(kShardControlFd, pending, UINT64_MAX);
  if (!config_line) return 1;
  const auto config = nlohmann::json::parse(*config_line).get<LoadConfig>();
  const double rss0 = static_cast<double>(resident_bytes());
  LoadGenerator load(config);
  try {
    load.connect();
  } catch (const UsageError& e) {
    say(fmt::format("error {}", e.what()));
    return 2;
  }
  if (!say("ready")) return 1;
  const auto start_line = read_line_from(kShardControlFd, pending, UINT64_MAX);
  if (!start_line || !start_line->starts_with("start ")) return 1;
  load.start_at(std::stoull(start_line->substr(6)));

  // Until the window's start, then to its end: watch for a stop (or bench's end) meanwhile.
  bool stopped = false;
  const auto watch_until = [&](std::uint64_t deadline) {
    while (!stopped && now_ns() < deadline) {
      const auto line = read_line_from(kShardControlFd, pending, deadline);
      if (line && line->starts_with("stop ")) {
        load.request_stop_at(std::stoull(line->substr(5)));
        stopped = true;
      } else if (!line && now_ns() < deadline) {  // EOF: bench is gone
        load.request_stop();
        stopped = true;
      }
    }
    return stopped;
  };
  const ShardReport report = measure_shard(load, config.clients, rss0, watch_until);
  return say("result " + nlohmann::json(report).dump()) ? 0 : 1;
}

}  // namespace mux
