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
  // Level-triggered: an fd not drained is reported again. EINTR returns 0.
  virtual int wait(std::span<Event> out, int timeout_ms) = 0;
};

using PollerFactory = std::unique_ptr<Poller> (*)();

// A backend named `name` that runs the shared ReadinessLoop on pollers made by `make_poller`.
std::unique_ptr<Backend> make_readiness_backend(std::string_view name, PollerFactory make_poller);

}  // namespace mux
