#pragma once
#include <string>
#include <vector>

#include "core/net.hpp"
#include "harness/spec/options.hpp"

namespace mux {
// Checks before anything starts that this machine can run what was asked: the backend exists
// here, and fds, ports, threads and memory suffice on both sides. Throws UsageError with one
// line naming the limit and the fix. Raises this process's fd limit as far as allowed.
// With --backend=all, a backend that cannot run here or with these --server-* flags is left
// out, not refused (`all` means every one that can): returned with why. Throws when none can.
struct SkippedBackend {
  std::string name;
  std::string reason;
};
std::vector<SkippedBackend> preflight(const RunOptions& options);
// The fds of the server's processes and loops (`bench serve` checks its own with connections = 0).
void check_server_process_fds(const ServerShape& shape, std::uint64_t connections);

// The local addresses the load generator connects from: empty when one address has ports
// enough, else 127.0.0.1, 127.0.0.2, ... (or --sources). Throws UsageError when none suffice.
std::vector<SocketAddress> plan_sources(const RunOptions& options, const SocketAddress& target);
}  // namespace mux
