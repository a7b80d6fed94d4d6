#include "harness/run/preflight.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "backends/backend.hpp"
#include "core/cpu_set.hpp"
#include "core/echo_protocol.hpp"
#include "core/limits.hpp"
#include "core/net.hpp"
#include "harness/system/atomic_file.hpp"
#include "harness/results/report.hpp"
#include "harness/results/run_reporters.hpp"
#include "harness/spec/server_shape.hpp"
#include "harness/spec/transport.hpp"

namespace mux {
namespace {

constexpr std::uint64_t kSpareFds = 64;  // listeners, epoll/eventfd/pipes, stdio, headroom

std::uint64_t read_number(const char* path, std::uint64_t fallback) {
  std::ifstream in(path);
  std::uint64_t v = fallback;
  in >> v;
  return in ? v : fallback;
}

std::uint64_t ephemeral_ports(std::uint64_t& lo, std::uint64_t& hi) {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  lo = 32768;
  hi = 60999;
  in >> lo >> hi;
  return hi >= lo ? hi - lo + 1 : 0;
}

std::uint64_t memory_available_bytes() {
  std::ifstream in("/proc/meminfo");
  for (std::string key; in >> key;) {
    std::uint64_t kb = 0;
    in >> kb;
    if (key == "MemAvailable:") return kb * 1024;
    in.ignore(256, '\n');
  }
  return UINT64_MAX;
}

// The server side of check_fds: how many processes it has, on how many CPUs, and whether its
// backend can have more than one (a backend without event loops runs in one process).
struct ServerSide {
  std::uint64_t processes = 0;  // 0: not ours to check (`bench load`, the load side alone)
  std::size_t cpus = 1;
  bool can_split = false;
};

// The fd limit is per process: the connections must fit in each load process's share and, for
// `bench`, in each server process's (with --server-processes the kernel spreads them: reuseport
// hashes, handoff and shared balance; a 10% margin covers the spread measured). Where they do
// not, the message names values that pass this check and the others a run makes: process
// counts within their caps (--loadgen-processes up to --clients and 1024, --server-processes up
// to 4 per server CPU, with the CPUs for them), a limit, or a client count of at least 1.
void check_fds(const RunOptions& o, std::uint64_t connections, const ServerSide& server) {
  const std::uint64_t limit = raise_fd_limit();  // the server child raises its own the same way
  const std::uint64_t per_process = limit > kSpareFds ? limit - kSpareFds : 0;
  const auto load_share = [&](std::uint64_t n) { return (connections + n - 1) / n; };
  const auto server_share = [&](std::uint64_t n) { return n <= 1 ? connections : (connections + n - 1) / n * 11 / 10; };
  const bool load_fits = load_share(o.loadgen_processes) <= per_process;
  const bool server_fits = server.processes == 0 || server_share(server.processes) <= per_process;
  if (load_fits && server_fits) return;
  std::vector<std::string> fixes;
  // The fewest processes that hold the connections, within the flag's cap; 0: none does.
  const auto fewest = [&](std::uint64_t from, std::uint64_t cap, const auto& share) -> std::uint64_t {
    for (std::uint64_t n = std::max<std::uint64_t>(from, 1); per_process > 0 && n <= cap; ++n)
      if (share(n) <= per_process) return n;
    return 0;
  };
  const std::uint64_t loadgen = load_fits ? o.loadgen_processes
                                          : fewest(o.loadgen_processes, std::min<std::uint64_t>(o.load.clients, 1024), load_share);
  const CpuList allowed = allowed_cpus();
  const std::uint64_t servers = server_fits || !server.can_split
                                    ? (server_fits ? server.processes : 0)
                                    : fewest(server.processes, kMaxLoopsPerCpu * allowed.size(), server_share);
  if (loadgen > 0 && (server_fits || servers > 0)) {
    std::string split = "split them over processes:";
    if (!load_fits) split += fmt::format(" --loadgen-processes={}", loadgen);
    if (!server_fits) {
      split += fmt::format(" --server-processes={}", servers);
      const std::size_t cpus = (servers + kMaxLoopsPerCpu - 1) / kMaxLoopsPerCpu;  // at most 4 per server CPU
      if (cpus > server.cpus)
        split += fmt::format(" --server-cpus={}", format_cpu_list(CpuList(allowed.begin(), allowed.begin() + static_cast<std::ptrdiff_t>(cpus))));
    }
    fixes.push_back(split + " (beyond ~28,000 connections, with several --sources)");
  }
  fixes.push_back(fmt::format("raise the limit to {} (`ulimit -n {}`; above the hard limit only as root with "
                              "CAP_SYS_RESOURCE, up to fs.nr_open={})",
                              connections + kSpareFds, connections + kSpareFds, read_number("/proc/sys/fs/nr_open", 0)));
  // The most connections the processes as given hold, less the idle ones: the clients left.
  std::uint64_t most = per_process * o.loadgen_processes;
  if (server.processes > 1) most = std::min(most, (10 * per_process + 9) / 11 * server.processes);
  else if (server.processes == 1) most = std::min(most, per_process);
  if (most > o.load.idle) fixes.push_back(fmt::format("use at most --clients={}", most - o.load.idle));
  std::string advice;
  for (const std::string& fix : fixes) advice += (advice.empty() ? "" : "; or ") + fix;
  throw UsageError(fmt::format(
      "{} connections (--clients + --idle) need about {} open files in one {} process but the limit is {} per "
      "process and this process may not raise it; {}",
      connections, (load_fits ? server_share(server.processes) : load_share(o.loadgen_processes)) + kSpareFds,
      load_fits ? "server" : "load generator", limit, advice));
}

void check_threads(std::string_view backend, std::uint64_t clients) {
  rlimit nproc{};
  ::getrlimit(RLIMIT_NPROC, &nproc);
  const std::uint64_t need = clients + kSpareFds;
  const std::uint64_t threads_max = read_number("/proc/sys/kernel/threads-max", UINT64_MAX);
  const std::uint64_t pid_max = read_number("/proc/sys/kernel/pid_max", UINT64_MAX);
  const std::uint64_t map_count = read_number("/proc/sys/vm/max_map_count", UINT64_MAX);
  auto refuse = [&](const char* limit, std::uint64_t value, const char* fix) {
    throw UsageError(fmt::format("--backend={} with --clients={} needs about {} threads, more than {} ({}); {} "
                                 "or use fewer --clients",
                                 backend, clients, need, limit, value, fix));
  };
  if (need > threads_max) refuse("kernel.threads-max", threads_max, "raise it with sysctl");
  if (need > pid_max) refuse("kernel.pid_max", pid_max, "raise it with sysctl");
  if (nproc.rlim_cur != RLIM_INFINITY && need > nproc.rlim_cur) refuse("RLIMIT_NPROC", nproc.rlim_cur, "raise `ulimit -u`");
  // Each thread maps its stack and a guard page: two mappings.
  if (2 * need + 1000 > map_count) refuse("vm.max_map_count / 2", map_count / 2, "raise vm.max_map_count with sysctl");
}

void check_memory(const RunOptions& o) {
  // Worst case per connection: a whole message queued on each side, plus a thread stack and
  // its read buffer (resident only as far as data reaches into it).
  const std::uint64_t frame = largest_message_size(o.load.message_size) + kEchoHeaderSize;
  const std::uint64_t queued = std::min<std::uint64_t>(frame * o.load.pipeline, 8 << 20);
  const std::uint64_t per_conn = 2 * queued + 80 * 1024 + std::min<std::uint64_t>(o.server.knobs.read_size, queued);
  const std::uint64_t need = per_conn * o.load.clients + 16 * 1024 * o.load.idle;
  const std::uint64_t have = memory_available_bytes();
  if (need > have)
    throw UsageError(fmt::format("--clients={} with --message-size={} may need {} MiB of memory but {} MiB are "
                                 "available; use fewer clients or smaller messages",
                                 o.load.clients, o.load.message_size.to_string(), need >> 20, have >> 20));
}

}  // namespace

// What the server's processes need beyond one connection each. The first process opens every
// listener before it forks the workers (reuseport: one per loop), and each process holds its own
// fixed set (listeners, epoll or ring, eventfd, pipes, stdio); the connections may all land in
// one process, as no accept design guarantees a spread.
void check_server_process_fds(const ServerShape& shape, std::uint64_t connections) {
  if (shape.processes == 1 && shape.loops() <= kSpareFds / 2) return;
  const std::uint64_t limit = raise_fd_limit();
  const std::uint64_t listeners = shape.accept == AcceptMode::reuseport ? shape.loops() : 1;
  const std::uint64_t first = listeners + 2 * shape.loops() + kSpareFds;
  if (first > limit)
    throw UsageError(fmt::format("--server-processes={} x --server-threads={} need about {} open files in the server's "
                                 "first process ({} listeners, pipes, headroom) but the limit is {}; use fewer "
                                 "processes or threads, or raise `ulimit -n`",
                                 shape.processes, shape.threads, first, listeners, limit));
  const std::uint64_t file_max = read_number("/proc/sys/fs/file-max", UINT64_MAX);
  const std::uint64_t system = 2 * connections + shape.processes * (first + kSpareFds);
  if (system > file_max)
    throw UsageError(fmt::format("--server-processes={} with {} connections need about {} open files on the system "
                                 "(both ends of each connection, and each process's own) but fs.file-max is {}; use "
                                 "fewer processes or clients, or raise fs.file-max with sysctl",
                                 shape.processes, connections, system, file_max));
}

std::vector<SocketAddress> plan_sources(const RunOptions& o, const SocketAddress& target) {
  if (target.is_unix() || o.server.transport == kTransportUnix) {  // no ports to run out of, no address to bind
    if (o.sources != "auto")
      throw UsageError("--sources does not apply to a Unix socket: its connections have no source address; drop "
                       "--sources");
    return {};
  }
  std::uint64_t lo = 0, hi = 0;
  const std::uint64_t ports = ephemeral_ports(lo, hi);
  const std::uint64_t per_source = ports > 100 ? ports - 100 : 0;  // slack for other sockets
  const std::uint64_t needed = o.load.clients + o.load.idle;
  std::vector<SocketAddress> sources;
  if (o.sources != "auto") {
    for (std::size_t pos = 0; pos <= o.sources.size();) {
      const std::size_t end = std::min(o.sources.find(',', pos), o.sources.size());
      const std::string item = o.sources.substr(pos, end - pos);
      if (item.empty())
        throw UsageError(fmt::format("--sources={}: an address is missing between commas; list local addresses "
                                     "separated by single commas, e.g. --sources=127.0.0.1,127.0.0.2",
                                     o.sources));
      try {
        sources.push_back(SocketAddress::parse(item, 0));
      } catch (const UsageError& e) {
        throw UsageError(fmt::format("--sources={}: {}", o.sources, e.what()));
      }
      // A loopback target is reached from loopback sources only; another from this machine's
      // own addresses (bind() refuses any other).
      const SocketAddress& s = sources.back();
      if (s.family() != target.family() || (target.is_loopback() ? !s.is_loopback() : !s.is_local()))
        throw UsageError(fmt::format("--sources: {} is not a {} address of the target's family ({})",
                                     item,
                                     target.is_loopback() ? "loopback" : "local", target.to_string()));
      pos = end + 1;
    }
  } else if (needed > per_source) {
    const std::uint64_t n = (needed + per_source - 1) / per_source;
    if (target.family() != AF_INET || !target.is_loopback() || n > 254)
      throw UsageError(fmt::format("{} connections need {} source addresses of {} ports each (net.ipv4.ip_local_port_range "
                                   "{}-{}); that is more than loopback offers here: widen the port range, give "
                                   "this machine's addresses with --sources, or use fewer --clients/--idle",
                                   needed, n, per_source, lo, hi));
    for (std::uint64_t i = 1; i <= n; ++i) sources.push_back(SocketAddress::parse(fmt::format("127.0.0.{}", i), 0));
  }
  const std::uint64_t capacity = per_source * std::max<std::size_t>(1, sources.size());
  if (needed > capacity)
    throw UsageError(fmt::format("{} connections need {} local ports but {} source address{} offer {} "
                                 "(net.ipv4.ip_local_port_range {}-{}); add --sources or widen the range",
                                 needed, needed, std::max<std::size_t>(1, sources.size()),
                                 sources.size() > 1 ? "es" : "", capacity, lo, hi));
  return sources;
}

std::vector<SkippedBackend> preflight(const RunOptions& o) {
  // `bench load` drives someone else's server; a --server-cmd server is not one of the registry's.
  const std::vector<std::string> backends = o.own_server() ? o.backends() : std::vector<std::string>{};
  // Ports first: beyond one address's ports, more processes would not help.
  plan_sources(o, o.target.empty() ? SocketAddress::parse(o.server.host, 0).reachable_locally() : parse_target(o.target));
  std::vector<SkippedBackend> skipped;
  for (const std::string& name : backends) {
    const BackendEntry& entry = *find_backend(name);  // the CLI accepts registry names only
    try {
      if (auto reason = entry.probe(); !reason.empty()) throw UsageError(fmt::format("--backend={}: {}", name, reason));
      if (entry.capabilities.model == IoModel::blocking) check_threads(name, o.load.clients + o.load.idle);
      // `bench sweep` checks a configuration without its CPUs resolved: the default split's, then.
      const std::size_t server_cpus = o.server.cpus.empty() ? default_cpu_split().server.size() : o.server.cpus.size();
      const ServerShape shape = resolve_server_shape(entry, o.server, server_cpus);
      check_server_process_fds(shape, o.load.clients + o.load.idle);
      check_fds(o, o.load.clients + o.load.idle, {shape.processes, server_cpus, entry.capabilities.multi_loop});
    } catch (const UsageError& e) {
      if (o.server.backend != "all") throw;
      skipped.push_back({name, e.what()});
    }
  }
  if (!backends.empty() && skipped.size() == backends.size())
    throw UsageError(fmt::format("--backend=all: no backend can run here with these flags; the first: {}",
                                 skipped.front().reason));
  // The load side alone (each server's side was checked with its shape above; `bench load`'s
  // server is not ours to check).
  check_fds(o, o.load.clients + o.load.idle, {});
  check_memory(o);
  // Each backend's files (with --backend=all, path_for names one per backend).
  std::vector<OutputFile> outputs;
  for (const std::string& backend : o.backends())
    for (const OutputFlag& output : run_output_flags())
      if (const std::string& path = o.output_path(output.flag); !path.empty())
        outputs.push_back({std::string(output.flag), path_for(o, path, backend)});
  check_output_files(outputs);
  return skipped;
}

}  // namespace mux
