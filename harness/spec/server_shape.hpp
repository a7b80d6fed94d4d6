#pragma once
// How many event loops and processes the server runs, and how they get connections:
// --server-threads, --server-processes and --accept, resolved against the backend's registry
// entry. One place for their defaults and their bad-input checks, for `bench` and `bench serve`.
#include <cstddef>
#include <string>

#include <CLI/CLI.hpp>

#include "backends/backend.hpp"

namespace mux {

// Loops (or processes) per server CPU beyond which a request is taken for a mistake: four
// loops on a core already only take turns.
inline constexpr std::size_t kMaxLoopsPerCpu = 4;

struct ServerShapeFlags {
  std::size_t threads = 0;    // 0: one loop per server CPU
  std::size_t processes = 0;  // 0: one process
  std::string accept;         // "": reuseport, or the backend's only mode
  // --transport=unix: a socket path binds once, so there is no SO_REUSEPORT group to spread
  // connections; the default design is then the backend's next one (shared, else handoff).
  bool unix_socket = false;
};

struct ServerShape {
  std::size_t threads = 1;    // loops per process
  std::size_t processes = 1;
  AcceptMode accept = AcceptMode::reuseport;
  std::size_t loops() const { return threads * processes; }
};

void add_server_shape_flags(CLI::App& app, ServerShapeFlags& flags);
// Throws UsageError naming the problem and the fix.
ServerShape resolve_server_shape(const BackendEntry& entry, const ServerShapeFlags& flags, std::size_t server_cpus);

}  // namespace mux
