#include "harness/stop_signals.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

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

}  // namespace mux
