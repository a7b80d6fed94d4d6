#pragma once
#include "harness/options.hpp"

namespace mux {
// Checks before anything starts that this machine can run what was asked: the backend exists
// here, and fds, ports, threads and memory suffice on both sides. Throws UsageError with one
// line naming the limit and the fix. Raises this process's fd limit as far as allowed.
void preflight(const RunOptions& options);
}  // namespace mux
