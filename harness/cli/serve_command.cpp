// `bench serve`: one backend alone in this process. `bench` runs its server this way, as a
// child process, so the server's fds and CPU time are its own.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backends/backend.hpp"
#include "backends/multi_loop.hpp"
#include "core/limits.hpp"
#include "core/net.hpp"
#include "core/request_work.hpp"
#include "harness/cli/commands.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/spec/options.hpp"
#include "harness/run/preflight.hpp"
#include "harness/server/serve_protocol.hpp"
#include "harness/spec/server_shape.hpp"
#include "harness/server/server_workers.hpp"
#include "harness/spec/transport.hpp"

namespace mux {
namespace {

int g_stop_fd = -1;

void on_stop_signal(int) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(g_stop_fd, &one, sizeof one);  // async-signal-safe
}

void say(int fd, const std::string& line) {
  if (fd < 0) {
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
  } else {
    [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());
  }
}

// An error ends the server: to `bench` on its pipe ("error MESSAGE", serve_protocol), or to a
// user in the form every command's errors take.
void report_error(int ready_fd, const std::string& message) {
  if (ready_fd >= 0)
    say(ready_fd, fmt::format("error {}\n", message));
  else
    std::fputs(fmt::format("bench serve: error: {}\n", message).c_str(), stderr);
}

// What the control thread reads: the server's CPU (every process), its connections accepted so
// far (every loop) and its kernel counters.
struct ServerReadings {
  std::function<double()> cpu_us;
  std::function<std::uint64_t()> accepted;
  std::function<KernelSnapshot()> kernel;
};

// Answers requests from `bench` on `control_fd` (harness/server/serve_protocol.hpp): "cpu" with the
// server's user+sys CPU time (getrusage: all threads, µs, where /proc would give 10 ms ticks;
// plus the workers' process CPU clocks), "kernel" with its kernel counters (one line of JSON)
// and "accepted" with the connections accepted so far (bench starts the clock only when all
// are). Ends when the server stops (stop_fd stays readable once written) or the pipe closes.
void answer_requests(int control_fd, int reply_fd, int stop_fd, const ServerReadings& read) {
  // bench reads the server's CPU time and kernel counters at its window's edges through this
  // thread: among 1,000 busy per-connection threads at nice 0 it would wait up to a second for
  // the CPU. At -20 (where permitted: CAP_SYS_NICE) it answers at once; it uses almost no CPU.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), -20);
  char buf[64];
  for (;;) {
    pollfd fds[2] = {{control_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const ssize_t n = ::read(control_fd, buf, sizeof buf);
    if (n <= 0) return;
    // Requests are "NAME SEQ\n"; the reply repeats both so bench can match it to its request.
    std::string_view request(buf, static_cast<std::size_t>(n));
    while (!request.empty() && (request.back() == '\n' || request.back() == '\r')) request.remove_suffix(1);
    if (request.starts_with(serve_protocol::kRequestKernel)) {
      say(reply_fd, fmt::format("{} {}\n", request, nlohmann::json(read.kernel()).dump()));
      continue;
    }
    if (request.starts_with(serve_protocol::kRequestAccepted)) {
      say(reply_fd, fmt::format("{} {}\n", request, read.accepted()));
      continue;
    }
    say(reply_fd, fmt::format("{} {:.0f}\n", request, read.cpu_us()));  // one write < PIPE_BUF: never interleaved
  }
}

// requests: null when the protocol cannot count them (raw has no message boundaries).
nlohmann::ordered_json requests_json(std::uint64_t requests, const std::string& protocol) {
  return protocol_counts_requests(protocol) ? nlohmann::ordered_json(requests) : nlohmann::ordered_json();
}

nlohmann::ordered_json counters_json(const SharedLoopRecords& records, const std::string& protocol) {
  const auto total = [&](std::atomic<std::uint64_t> ServerCounters::*c) { return counter_total(records, c); };
  return {{"accepted", total(&ServerCounters::accepted)},
          {"closed", total(&ServerCounters::closed)},
          {"dropped_at_accept", total(&ServerCounters::dropped_at_accept)},
          {"refused", total(&ServerCounters::refused)},
          {"protocol_errors", total(&ServerCounters::protocol_errors)},
          {"resets", total(&ServerCounters::resets)},
          {"requests", requests_json(total(&ServerCounters::requests), protocol)}};
}

// results.server_loops: one entry per loop, over the server's whole life (warm-up and the
// stop's drain included, as the counters are). cpu_seconds: its thread's CPU clock when it ended.
nlohmann::ordered_json loops_json(const SharedLoopRecords& records, const ServerShape& shape, const std::string& protocol) {
  nlohmann::ordered_json loops = nlohmann::ordered_json::array();
  std::size_t i = 0;
  for (const LoopRecord& loop : records.all()) {
    loops.push_back({{"process", i / shape.threads},
                     {"pid", loop.pid.load()},
                     {"loop", i % shape.threads},
                     {"cpu", loop.cpu.load() >= 0 ? nlohmann::ordered_json(loop.cpu.load()) : nlohmann::ordered_json()},
                     {"cpu_seconds", loop.ended ? nlohmann::ordered_json(static_cast<double>(loop.cpu_ns.load()) / 1e9)
                                                : nlohmann::ordered_json()},
                     {"accepted", loop.counters.accepted.load()},
                     {"requests", requests_json(loop.counters.requests.load(), protocol)}});
    ++i;
  }
  return loops;
}

// SO_REUSEPORT: one listener per loop on one port. The port is first taken by an ordinary
// socket, so a port already in use is refused (a reuseport socket could join someone else's
// group) and port 0 becomes a real port the others then bind.
// A Unix socket is one listener whatever the shape (--accept=reuseport is refused with it).
std::vector<UniqueFd> open_listeners(const SocketAddress& address, int backlog, const ServerShape& shape) {
  std::vector<UniqueFd> listeners;
  listeners.push_back(listen_stream(address, backlog));
  if (shape.accept != AcceptMode::reuseport || shape.loops() == 1) return listeners;
  const SocketAddress port = local_address(listeners.front().get());
  listeners.clear();
  for (std::size_t i = 0; i < shape.loops(); ++i) listeners.push_back(listen_tcp(port, backlog, /*reuse_port=*/true));
  return listeners;
}

// --busy-poll: SO_BUSY_POLL on a listener, which accepted sockets inherit (the kernel copies the
// listener's sock into each child). Refused above net.core.busy_read without CAP_NET_ADMIN (EPERM).
void set_busy_poll(int listener, std::size_t busy_poll_us) {
  if (busy_poll_us == 0) return;
  const int us = static_cast<int>(busy_poll_us);
  if (::setsockopt(listener, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof us) != 0)
    throw UsageError(fmt::format("--busy-poll={}: setsockopt(SO_BUSY_POLL) refused: {}; above net.core.busy_read it "
                                 "needs CAP_NET_ADMIN: run as root, or lower --busy-poll",
                                 busy_poll_us, std::strerror(errno)));
}

// getrusage(RUSAGE_SELF) counts one process: with workers, its context switches and page faults
// would be the idle first process's alone. Reported as not counted rather than undercounted.
void mark_single_process_counts(KernelSnapshot& snapshot, std::size_t processes) {
  mark_rusage_not_counted(snapshot, fmt::format("getrusage counts one process, and --server-processes={} forks "
                                                 "workers whose counts it does not see",
                                                 processes));
}

// An eventfd written on SIGINT, SIGTERM or SIGHUP (bench's stop signals): readable once the
// server must stop, and then for good.
UniqueFd stop_on_signals() {
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  g_stop_fd = stop.get();
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  return stop;
}

// The server's counters and loops over its whole life: to bench ("stats JSON"), or to the user.
void say_final_stats(int ready_fd, const SharedLoopRecords& records, const ServerShape& shape,
                     const std::string& protocol) {
  auto stats = counters_json(records, protocol);
  stats[serve_protocol::kLoopsKey] = loops_json(records, shape, protocol);
  if (ready_fd >= 0)
    say(ready_fd, fmt::format("stats {}\n", stats.dump()));
  else
    say(-1, fmt::format("stopped; {}\n", stats.dump()));
}

// What `bench serve` says once it listens, when no `bench` reads its pipe.
std::string listening_line(const ServerSpec& spec, const ServerShape& shape, const SocketAddress& bound) {
  return fmt::format(
      "muxbench {} server listening on {} (protocol {}{}{}); Ctrl-C stops it\n", spec.backend, bound.to_string(),
      spec.protocol,
      spec.work_us != Distribution(0) ? fmt::format(", {} µs of work per request", spec.work_us.to_string()) : "",
      shape.loops() > 1 ? fmt::format(", {} process{} x {} loop{}, accept={}", shape.processes,
                                      shape.processes == 1 ? "" : "es", shape.threads, shape.threads == 1 ? "" : "s",
                                      accept_mode_name(shape.accept))
                        : "");
}

// The loops' plan: the one place the backends' ServeContext is filled from the server's spec
// (run_loops() makes each loop's from it).
LoopsPlan loops_plan(const ServerSpec& spec, Backend& backend, const ServerShape& shape,
                     const std::vector<UniqueFd>& listeners, const CpuList& cpus, int stop_fd,
                     SharedLoopRecords& records, std::function<void()> on_started) {
  std::vector<int> listen_fds;
  for (const UniqueFd& l : listeners) listen_fds.push_back(l.get());
  return {.backend = &backend,
          .mode = shape.accept,
          .listen_fds = std::move(listen_fds),
          .cpus = cpus,
          .stop_fd = stop_fd,
          .make_codec = with_request_work(spec.protocol, spec.work_us),
          .knobs = spec.knobs,
          .loops = records.all(),
          .acceptor_counters = &records.acceptors(),
          .on_started = std::move(on_started)};
}

// --server-processes: forks the workers (before any thread starts: the control thread is then
// the last destroyed before them), has their kernel cost counted from before the server says
// it is ready, and waits until their loops run.
void start_workers(std::optional<WorkerProcesses>& workers, const ServerShape& shape, const LoopsPlan& plan,
                   KernelCounters& kernel, std::vector<UniqueFd>& listeners, const std::function<void()>& announce) {
  workers.emplace(shape, plan);
  for (const pid_t pid : workers->pids()) {
    std::string why;
    kernel.count_process(pid, &why);  // when refused, the coverage says so
  }
  listeners.clear();  // the workers hold them; open here they would take connections too
  if (wait_until_started(plan.loops, plan.stop_fd)) {
    announce();
    return;
  }
  workers->wait();  // throws when a worker failed
  pollfd asked{plan.stop_fd, POLLIN, 0};
  if (::poll(&asked, 1, 0) <= 0) throw std::runtime_error("the worker processes did not start their loops within 10 s");
}

}  // namespace

int serve_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_serve_options(argc, argv, exit_code);
  if (!options) return exit_code;
  const ServeOptions& o = *options;
  const ServerSpec& spec = o.server;
  try {
    if (!spec.cpus.empty()) pin_process(spec.cpus);
    raise_fd_limit();
    std::signal(SIGPIPE, SIG_IGN);
    const BackendEntry& entry = *find_backend(spec.backend);  // the CLI accepts registry names only
    if (auto reason = entry.probe(); !reason.empty())
      throw UsageError(fmt::format("--backend={}: {}", spec.backend, reason));
    auto backend = make_backend(spec.backend);
    const UniqueFd stop = stop_on_signals();

    const CpuList cpus = spec.cpus.empty() ? allowed_cpus() : spec.cpus;
    const ServerShape shape = resolve_server_shape(entry, spec, cpus.size());
    check_server_process_fds(shape, 0);
    // Unix: the socket file goes when this process stops, and its private directory with it.
    std::optional<PrivateSocketDir> socket_dir;
    if (spec.transport == kTransportUnix && spec.socket_path.empty()) socket_dir.emplace();
    const SocketAddress address =
        spec.transport != kTransportUnix ? SocketAddress::parse(spec.host, spec.port)
                                         : SocketAddress::unix_socket(socket_dir ? socket_dir->socket_path() : spec.socket_path);
    std::vector<UniqueFd> listeners = open_listeners(address, spec.backlog, shape);
    for (const UniqueFd& listener : listeners) set_busy_poll(listener.get(), spec.knobs.busy_poll_us);
    const BoundSocketFile socket_file(address.is_unix() ? address.unix_path() : "");
    const SocketAddress bound = address.is_unix() ? address : local_address(listeners.front().get());
    // Opened while this is the process's only thread: every thread started from here on (the
    // control thread, the backend's threads, io_uring's workers) is counted. A worker process
    // forked from here on is added with kernel.count_process(pid) (see kernel_counters.hpp).
    KernelCounters kernel = o.kernel_counters ? KernelCounters::open_for_this_process(
                                                    o.syscall_counter.empty() ? std::nullopt
                                                                              : SyscallCounterHandoff::parse(o.syscall_counter))
                                              : KernelCounters(kCountersTurnedOff);
    // Said once every loop is set up (its epoll set or ring exists and watches its listener):
    // bench then measures a server whose fds and threads are all there.
    const auto announce = [&] {
      if (o.ready_fd >= 0)
        say(o.ready_fd, fmt::format("ready {}\n", bound.to_string()));
      else
        say(-1, listening_line(spec, shape, bound));
    };

    SharedLoopRecords records(shape.loops());
    const LoopsPlan plan = loops_plan(spec, *backend, shape, listeners, cpus, stop.get(), records,
                                      shape.processes == 1 ? std::function<void()>(announce) : nullptr);
    std::optional<WorkerProcesses> workers;
    if (shape.processes > 1) start_workers(workers, shape, plan, kernel, listeners, announce);
    const ServerReadings readings{
        .cpu_us = [&] { return process_cpu_us() + (workers ? workers->cpu_us() : 0.0); },
        .accepted = [&] { return counter_total(records, &ServerCounters::accepted); },
        .kernel = [&] {
          KernelSnapshot s = kernel.snapshot();
          if (shape.processes > 1) mark_single_process_counts(s, shape.processes);
          return s;
        }};
    std::jthread control;
    if (o.control_fd >= 0 && o.ready_fd >= 0)
      control = std::jthread(answer_requests, o.control_fd, o.ready_fd, stop.get(), std::cref(readings));
    if (workers) {
      workers->wait();
      for (const pid_t pid : workers->pids()) kernel.forget_process(pid);  // reaped: ids may be reused
    } else
      run_loops(plan);
    say_final_stats(o.ready_fd, records, shape, spec.protocol);
    return 0;
  } catch (const UsageError& e) {
    report_error(o.ready_fd, e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    report_error(o.ready_fd, fmt::format("{} server failed: {}", spec.backend, e.what()));
    return kExitFailed;
  }
}

}  // namespace mux
