#include "harness/system/stop_signals.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.hpp"

namespace mux {
namespace {

std::atomic<int> g_signal{0};
int g_signal_fd = -1;

void on_signal(int sig) {
  g_signal.store(sig);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(g_signal_fd, &one, sizeof one);  // async-signal-safe
}

}  // namespace

void install_stop_signals() {
  if (g_signal_fd < 0) g_signal_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int stop_signal() { return g_signal.load(); }

int stop_signal_fd() { return g_signal_fd; }

std::string interrupted_by(int sig) { return fmt::format("interrupted by signal {} ({})", sig, strsignal(sig)); }

double server_wait_s(double timeout_s) { return timeout_s + kServerGraceS; }

ServerDeadline::ServerDeadline(double wait_s) : start_ns_(now_ns()), deadline_ns_(start_ns_ + seconds_to_ns(wait_s)) {
  check_signal();
}

void ServerDeadline::check_signal() {
  if (signalled_ || stop_signal() == 0) return;
  signalled_ = true;
  deadline_ns_ = std::min(deadline_ns_, now_ns() + seconds_to_ns(kSignalledServerWaitS));
}

bool ServerDeadline::passed() {
  check_signal();
  return now_ns() >= deadline_ns_;
}

int ServerDeadline::remaining_ms() {
  check_signal();
  const std::uint64_t now = now_ns();
  return now >= deadline_ns_ ? 0 : static_cast<int>((deadline_ns_ - now + 999'999) / 1'000'000);
}

double ServerDeadline::waited_s() const { return static_cast<double>(now_ns() - start_ns_) / 1e9; }

WaitEnd wait_readable(int fd, ServerDeadline& deadline) {
  for (int ms; (ms = deadline.remaining_ms()) > 0;) {
    // The signal's fd only until it has shortened the deadline: it stays readable after.
    pollfd fds[2] = {{fd, POLLIN, 0}, {deadline.signalled() ? -1 : stop_signal_fd(), POLLIN, 0}};
    const int n = ::poll(fds, 2, ms);
    if (n < 0 && errno != EINTR) return WaitEnd::ready;  // let the caller's read report it
    if (n > 0 && fds[0].revents != 0) return WaitEnd::ready;
  }
  return WaitEnd::timed_out;
}

std::string no_answer_reason(const std::string& what, const ServerDeadline& deadline) {
  if (deadline.signalled())
    return fmt::format("{} while bench waited {:.1f} s for the server to {}", interrupted_by(stop_signal()),
                       deadline.waited_s(), what);
  return fmt::format("the server did not {} within --timeout + {:g} s ({:.1f} s): stopped or frozen? It was killed",
                     what, kServerGraceS, deadline.waited_s());
}

}  // namespace mux
