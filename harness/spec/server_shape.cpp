#include "harness/spec/server_shape.hpp"

#include <fmt/format.h>

#include "core/usage_error.hpp"
#include "harness/spec/server_spec.hpp"
#include "harness/spec/transport.hpp"

namespace mux {
namespace {

std::string multi_loop_backends() {
  std::string list;
  for (const auto& e : backend_registry())
    if (e.capabilities.multi_loop) list += fmt::format("{}{}", list.empty() ? "" : ", ", e.name);
  return list;
}

std::string modes_of(const BackendEntry& entry) {
  std::string list;
  for (const AcceptMode m : {AcceptMode::reuseport, AcceptMode::shared, AcceptMode::handoff})
    if (entry.capabilities.accept_modes & accept_mode_bit(m))
      list += fmt::format("{}--accept={}", list.empty() ? "" : " or ", accept_mode_name(m));
  return list;
}

void check_per_cpu(const char* flag, std::size_t value, std::size_t server_cpus) {
  const std::size_t most = kMaxLoopsPerCpu * server_cpus;
  if (value > most)
    throw UsageError(fmt::format("{}={} is more than {} per server CPU (the server has {} CPU{}: at most {}); use "
                                 "{}={} or less, or give the server more CPUs with --server-cpus",
                                 flag, value, kMaxLoopsPerCpu, server_cpus, server_cpus == 1 ? "" : "s", most, flag,
                                 most));
}

}  // namespace

ServerShape resolve_server_shape(const BackendEntry& entry, const ServerSpec& spec, std::size_t server_cpus) {
  const auto& caps = entry.capabilities;
  const bool unix_socket = spec.transport == kTransportUnix;
  if (!caps.multi_loop) {
    const char* asked = spec.threads > 1 ? "--server-threads" : spec.processes > 1 ? "--server-processes" : !spec.accept.empty() ? "--accept" : nullptr;
    if (asked != nullptr)
      throw UsageError(fmt::format("--backend={} has no event loop to multiply, so {} does not apply to it; drop {} "
                                   "or use one of {}",
                                   entry.name, asked, asked, multi_loop_backends()));
    return {};
  }
  ServerShape shape;
  shape.processes = spec.processes == 0 ? 1 : spec.processes;
  shape.threads = spec.threads == 0 ? std::max<std::size_t>(server_cpus, 1) : spec.threads;
  // A feature that needs several loops on one listener gets two by default, even on one CPU.
  if (caps.needs_shared_listener && spec.threads == 0 && shape.loops() < 2) shape.threads = 2;
  check_per_cpu("--server-threads", shape.threads, server_cpus);
  check_per_cpu("--server-processes", shape.processes, server_cpus);
  if (!spec.accept.empty()) {
    for (const AcceptMode m : {AcceptMode::reuseport, AcceptMode::shared, AcceptMode::handoff})
      if (accept_mode_name(m) == spec.accept) shape.accept = m;
  } else {
    shape.accept = unix_socket ? AcceptMode::shared : AcceptMode::reuseport;
    for (const AcceptMode m : {AcceptMode::reuseport, AcceptMode::shared, AcceptMode::handoff})
      if ((caps.accept_modes & accept_mode_bit(m)) && !(unix_socket && m == AcceptMode::reuseport)) {
        shape.accept = m;
        break;
      }
  }
  if (unix_socket && shape.accept == AcceptMode::reuseport)
    throw UsageError("--accept=reuseport does not apply to --transport=unix: SO_REUSEPORT spreads TCP and UDP "
                     "connections only, and a socket path binds once; use --accept=shared (the default with unix) "
                     "or --accept=handoff");
  if ((caps.accept_modes & accept_mode_bit(shape.accept)) == 0)
    throw UsageError(fmt::format("--backend={} has no design for --accept={}; use {}", entry.name,
                                 accept_mode_name(shape.accept), modes_of(entry)));
  if (caps.needs_shared_listener && shape.loops() < 2)
    throw UsageError(fmt::format("--backend={} needs several loops sharing one listener (its feature only acts "
                                 "then), but --server-threads={} x --server-processes={} is one loop; use "
                                 "--server-threads=2 or more, or --backend={}",
                                 entry.name, shape.threads, shape.processes, entry.base));
  return shape;
}

void pin_server_shape(ServerSpec& spec, const ServerShape& shape) {
  spec.threads = shape.threads;
  spec.processes = shape.processes;
  // One loop of a reuseport design is what a backend without loops runs, and --accept is refused there.
  spec.accept = shape.loops() > 1 || shape.accept != AcceptMode::reuseport ? std::string(accept_mode_name(shape.accept)) : "";
}

}  // namespace mux
