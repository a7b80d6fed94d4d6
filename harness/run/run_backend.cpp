// A run of one server: the backend's server (or a --server-cmd command) started, measured,
// its counters collected, and stopped (declared in harness/run/measurement.hpp).
#include <algorithm>

#include "harness/run/measurement.hpp"
#include "harness/server/command_server.hpp"
#include "harness/server/server_process.hpp"
#include "harness/spec/transport.hpp"

namespace mux {

// --server-cmd: the command's server, measured like a backend; it keeps no counters of its own.
RunRecord run_server_command(const RunOptions& o, const std::string& name, const MeasureServer& measure_server) {
  CommandServer server({name, o.server_cmd, o.host, o.port, o.transport == kTransportUnix ? o.socket_path : "",
                        o.server_cpus, o.counters, o.server_start_timeout_s, server_wait_s(o.load.timeout_s)});
  RunRecord record = measure_server(server.address(), server);
  server.stop();
  mark_unresponsive(record, server);
  record.server_command = server.command_line();
  return record;
}

RunRecord run_backend_with(const RunOptions& o, const std::string& backend, const MeasureServer& measure_server) {
  if (!o.server_cmd.empty()) return run_server_command(o, backend, measure_server);
  const int backlog = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(o.load.clients, 1024), 1 << 20));
  const ServerShape shape = resolve_server_shape(*find_backend(backend), o.server_shape, o.server_cpus.size());
  ServerProcess server(
      {backend, o.load.protocol, o.host, o.port, o.transport == kTransportUnix ? o.socket_path : "", backlog,
       o.load.work_us, o.server_cpus, o.read_size, o.counters, shape, o.zc_threshold,
       server_wait_s(o.load.timeout_s)});
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
