#pragma once
// How many event loops and processes the server runs, and how they get connections:
// --server-threads, --server-processes and --accept (fields of ServerSpec, server_spec.hpp),
// resolved against the backend's registry entry. One place for their defaults and their
// bad-input checks, for `bench` and `bench serve`.
#include <cstddef>

#include "backends/backend.hpp"

namespace mux {

// Loops (or processes) per server CPU beyond which a request is taken for a mistake: four
// loops on a core already only take turns.
inline constexpr std::size_t kMaxLoopsPerCpu = 4;

struct ServerSpec;

struct ServerShape {
  std::size_t threads = 1;    // loops per process
  std::size_t processes = 1;
  AcceptMode accept = AcceptMode::reuseport;
  std::size_t loops() const { return threads * processes; }
};

// The shape `spec` asks of backend `entry` on `server_cpus` CPUs. --transport=unix: a socket
// path binds once, so there is no SO_REUSEPORT group to spread connections; the default design
// is then the backend's next one (shared, else handoff). Throws UsageError naming the fix.
ServerShape resolve_server_shape(const BackendEntry& entry, const ServerSpec& spec, std::size_t server_cpus);
// `spec` asking for `shape` itself: what bench gives its server child, which then resolves the
// same shape whatever its own defaults.
void pin_server_shape(ServerSpec& spec, const ServerShape& shape);

}  // namespace mux
