#pragma once
// The connection state machine shared by the readiness backends (select, poll, epoll), as in
// Redis's ae.c: everything but the wait call lives here; each mechanism is a small Poller.
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "backends/backend.hpp"

namespace mux {

class Poller {
 public:
  enum : unsigned { kRead = 1, kWrite = 2 };
  struct Event {
    int fd;
    unsigned mask;
  };
  virtual ~Poller() = default;
  // Changes what `fd` is watched for from `old_mask` to `new_mask`; 0 means not watched.
  virtual void set_interest(int fd, unsigned old_mask, unsigned new_mask) = 0;
  // Waits up to timeout_ms (-1: no limit) and fills `out` with ready fds; returns how many.
  // Level-triggered unless edge_triggered(): an fd not drained is reported again. EINTR returns 0.
  virtual int wait(std::span<Event> out, int timeout_ms) = 0;
  // Edge-triggered: an fd is reported once per change of readiness, so whoever is told it is
  // readable must read it until EAGAIN (or remember that it has not).
  virtual bool edge_triggered() const { return false; }
  // Starts (on) or stops watching a listening socket for connections. A plain read interest,
  // except where the poller watches listeners its own way (EPOLLEXCLUSIVE).
  virtual void watch_listener(int fd, bool on) {
    const unsigned read = kRead;
    set_interest(fd, on ? 0u : read, on ? read : 0u);
  }
};

std::unique_ptr<Poller> make_select_poller();
std::unique_ptr<Poller> make_poll_poller();
std::unique_ptr<Poller> make_epoll_poller();
std::unique_ptr<Poller> make_epoll_et_poller();
std::unique_ptr<Poller> make_epoll_exclusive_poller();

// A backend that runs the shared ReadinessLoop on pollers made by `make_poller`.
std::unique_ptr<Backend> make_readiness_backend(PollerFactory make_poller);

}  // namespace mux
