// A run of one server: the backend's server (or a --server-cmd command) started, measured,
// its counters collected, and stopped (declared in harness/run/measurement.hpp).
#include <algorithm>

#include "harness/run/measurement.hpp"
#include "harness/server/command_server.hpp"
#include "harness/server/server_process.hpp"

namespace mux {

// --server-cmd: the command's server, measured like a backend; it keeps no counters of its own.
RunRecord run_server_command(const RunOptions& o, const std::string& name, const MeasureServer& measure_server) {
  ServerSpec spec = o.server;
  spec.backend = name;
  CommandServer server({spec, o.counters, server_wait_s(o.load.timeout_s)});
  RunRecord record = measure_server(server.address(), server);
  server.stop();
  mark_unresponsive(record, server);
  record.server_command = server.command_line();
  return record;
}

RunRecord run_backend_with(const RunOptions& o, const std::string& backend, const MeasureServer& measure_server) {
  if (!o.server.command.empty()) return run_server_command(o, backend, measure_server);
  ServerSpec spec = o.server;
  spec.backend = backend;
  spec.backlog = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(o.load.clients, 1024), 1 << 20));
  const ServerShape shape = resolve_server_shape(*find_backend(backend), spec, spec.cpus.size());
  pin_server_shape(spec, shape);
  ServerProcess server({spec, o.counters, server_wait_s(o.load.timeout_s)});
  RunRecord record = measure_server(server.address().reachable_locally(), server);
  record.server_counters = server.stop();
  mark_unresponsive(record, server);
  record.server_shape = shape;
  record.server_loops = server.loops();
  return record;
}

RunRecord run_backend(const RunOptions& o, const std::string& backend, const std::function<void()>& on_connected) {
  return run_backend_with(o, backend, [&](const SocketAddress& target, MeasuredServer& server) {
    return measure(o, backend, target, &server, on_connected);
  });
}

}  // namespace mux
