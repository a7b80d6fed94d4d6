#pragma once
// The io_uring backend's switches: one per `io_uring+FEATURE` variant of the registry.
#include <memory>
#include <string>

#include "backends/backend.hpp"

namespace mux {

struct IoUringFeatures {
  // Single-shot accept and recv into per-connection buffers (no provided-buffer ring): the
  // path kernels older than 5.19/6.0 take, run on purpose on this one.
  bool single_shot = false;
  // DEFER_TASKRUN + SINGLE_ISSUER (6.1): completion work runs only when the loop waits. Off,
  // the ring runs it as the kernel sees fit (COOP_TASKRUN where available).
  bool defer_taskrun = true;
};

std::unique_ptr<Backend> make_io_uring_backend(IoUringFeatures features);
// Empty when a ring can be set up here; otherwise one line: why not, and the fix.
std::string probe_io_uring();

}  // namespace mux
