// `bench serve`: one backend alone in this process. `bench` runs its server this way, as a
// child process, so the server's fds and CPU time are its own.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdio>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backends/backend.hpp"
#include "core/limits.hpp"
#include "core/net.hpp"
#include "core/request_work.hpp"
#include "harness/commands.hpp"
#include "harness/kernel_counters.hpp"
#include "harness/options.hpp"

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

// Answers requests from `bench` on `control_fd`: "cpu" with this process's user+sys CPU time
// (getrusage: all threads, µs, where /proc would give 10 ms ticks), "kernel" with its kernel
// counters (one line of JSON) and "accepted" with the connections accepted so far (bench starts the clock only when all are). Ends when the
// server stops (stop_fd stays readable once written) or the pipe closes.
void answer_requests(int control_fd, int reply_fd, int stop_fd, const ServerCounters* counters,
                     const KernelCounters* kernel) {
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
    if (request.starts_with("kernel")) {
      say(reply_fd, fmt::format("{} {}\n", request, snapshot_to_json(kernel->snapshot()).dump()));
      continue;
    }
    if (request.starts_with("accepted")) {
      say(reply_fd, fmt::format("{} {}\n", request, counters->accepted.load()));
      continue;
    }
    say(reply_fd, fmt::format("{} {:.0f}\n", request, process_cpu_us()));  // one write < PIPE_BUF: never interleaved
  }
}

// requests: null when the protocol cannot count them (raw has no message boundaries).
nlohmann::ordered_json counters_json(const ServerCounters& c, const std::string& protocol) {
  return {{"accepted", c.accepted.load()},       {"closed", c.closed.load()},
          {"dropped_at_accept", c.dropped_at_accept.load()}, {"refused", c.refused.load()},
          {"protocol_errors", c.protocol_errors.load()},     {"resets", c.resets.load()},
          {"requests", protocol_counts_requests(protocol) ? nlohmann::ordered_json(c.requests.load())
                                                          : nlohmann::ordered_json()}};
}

}  // namespace

int serve_command(int argc, char** argv) {
  int exit_code = 0;
  const auto options = parse_serve_options(argc, argv, exit_code);
  if (!options) return exit_code;
  const ServeOptions& o = *options;
  try {
    if (!o.cpus.empty()) pin_process(o.cpus);
    raise_fd_limit();
    std::signal(SIGPIPE, SIG_IGN);
    const BackendEntry& entry = *find_backend(o.backend);  // the CLI accepts registry names only
    if (auto reason = entry.probe(); !reason.empty())
      throw UsageError(fmt::format("--backend={}: {}", o.backend, reason));
    auto backend = make_backend(o.backend);
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    g_stop_fd = stop.get();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    UniqueFd listener = listen_tcp(SocketAddress::parse(o.host, o.port), o.backlog);
    const SocketAddress bound = local_address(listener.get());
    // Opened while this is the process's only thread: every thread started from here on (the
    // control thread, the backend's threads, io_uring's workers) inherits them.
    const KernelCounters kernel =
        o.kernel_counters ? KernelCounters::open_for_this_process() : KernelCounters(kCountersTurnedOff);
    if (o.ready_fd >= 0)
      say(o.ready_fd, fmt::format("ready {}\n", bound.to_string()));
    else
      say(-1, fmt::format("muxbench {} server listening on {} (protocol {}{}); Ctrl-C stops it\n", o.backend,
                          bound.to_string(), o.protocol,
                          o.work_us > 0 ? fmt::format(", {} µs of work per request", o.work_us) : ""));

    ServerCounters counters;
    std::jthread control;
    if (o.control_fd >= 0 && o.ready_fd >= 0)
      control = std::jthread(answer_requests, o.control_fd, o.ready_fd, stop.get(), &counters, &kernel);
    const auto work_ns = static_cast<std::uint64_t>(o.work_us * 1000.0 + 0.5);
    backend->serve({listener.get(), stop.get(), with_request_work(server_codec_factory(o.protocol), work_ns), &counters,
                    o.read_size, o.zc_threshold});
    const auto stats = counters_json(counters, o.protocol);
    if (o.ready_fd >= 0)
      say(o.ready_fd, fmt::format("stats {}\n", stats.dump()));
    else
      say(-1, fmt::format("stopped; {}\n", stats.dump()));
    return 0;
  } catch (const UsageError& e) {
    say(o.ready_fd < 0 ? STDERR_FILENO : o.ready_fd, fmt::format("error {}\n", e.what()));
    return kExitUsage;
  } catch (const std::exception& e) {
    say(o.ready_fd < 0 ? STDERR_FILENO : o.ready_fd, fmt::format("error {} server failed: {}\n", o.backend, e.what()));
    return kExitFailed;
  }
}

}  // namespace mux
