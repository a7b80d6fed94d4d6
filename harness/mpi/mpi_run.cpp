// `mpirun -H srv:1,c1:4,c2:4 bench --backend=B ...`: the whole experiment under mpirun. Rank 0
// starts the server as `bench` does (pinned to --server-cpus, its CPU and kernel counters
// exact), tells the other ranks where it listens, and coordinates; ranks 1..K-1 are the load,
// each a shard as under `bench load` (harness/mpi/mpi_load.hpp), merged exactly on rank 0, which
// alone prints and writes files.
//
// Per backend (--backend=all: each in turn), rank 0 broadcasts one order: "run", the backend,
// its host name and the addresses the server is reached at; "end" when all have run; "stop"
// when the server could not start (rank 0 has said why). A load rank takes the first address
// that accepts: with --host=0.0.0.0 or ::, every interface address of rank 0's host, loopback
// only for ranks on that same host.
#include <algorithm>
#include <iterator>
#include <cstdio>
#include <sstream>

#include <fmt/format.h>

#include "core/usage_error.hpp"
#include "harness/mpi/mpi_measure.hpp"
#include "harness/system/environment.hpp"
#include "harness/load/load_shards.hpp"
#include "harness/server/measured_server.hpp"
#include "harness/run/measurement.hpp"
#include "harness/mpi/mpi_command.hpp"
#include "harness/mpi/mpi_load.hpp"
#include "harness/results/run_reporters.hpp"
#include "harness/run/preflight.hpp"
#include "harness/spec/transport.hpp"

namespace mux {
namespace {

constexpr const char* kOrderRun = "run";
constexpr const char* kOrderEnd = "end";
constexpr const char* kOrderStop = "stop";
constexpr auto kProbeTimeout = std::chrono::milliseconds(1000);

// Where the load ranks may reach the server rank 0 started: `local` is where a client on rank
// 0's host reaches it; a server bound to every address is reached at any of them.
std::vector<SocketAddress> server_addresses(const RunOptions& o, const SocketAddress& local) {
  if (!SocketAddress::parse(o.server.host, 0).is_unspecified()) return {local};
  std::vector<SocketAddress> all = interface_addresses(local.family(), local.port());
  if (std::find(all.begin(), all.end(), local) == all.end()) all.push_back(local);
  return all;
}

std::string run_order(const std::string& backend, const std::vector<SocketAddress>& addresses) {
  std::string order = fmt::format("{}\n{}\n{}", kOrderRun, backend, host_name());
  for (const SocketAddress& a : addresses) order += "\n" + a.to_string();
  return order;
}

// A load rank's target: the first of rank 0's addresses that accepts (loopback only when this
// rank runs on rank 0's host: elsewhere it is another machine's loopback). Throws UsageError.
SocketAddress pick_target(const std::string& server_host, const std::vector<std::string>& addresses) {
  std::vector<SocketAddress> candidates;
  for (const std::string& text : addresses) {
    const SocketAddress a = parse_target(text);
    if (!a.is_loopback() || server_host == host_name()) candidates.push_back(a);
  }
  if (const SocketAddress* first = first_accepting(candidates, kProbeTimeout)) return *first;
  std::string tried;
  for (const SocketAddress& a : candidates) tried += (tried.empty() ? "" : ", ") + a.to_string();
  throw UsageError(fmt::format("the server on rank 0 ({}) accepts at none of {} from this host: give --host an "
                               "address of rank 0's host that this one can reach (or 0.0.0.0)",
                               server_host, tried.empty() ? "its addresses (all loopback)" : tried));
}

// Ranks 1..K-1: run each backend rank 0 orders, until "end" (0) or "stop" (2: rank 0 said why).
int serve_orders_as_load_rank(const MpiWorld& world, const RunOptions& o) {
  for (;;) {
    std::istringstream order(world.broadcast_text(""));
    std::string verb, backend, server_host;
    std::getline(order, verb);
    if (verb == kOrderEnd) return 0;
    if (verb != kOrderRun) return kExitUsage;
    std::getline(order, backend);
    std::getline(order, server_host);
    std::vector<std::string> addresses;
    for (std::string line; std::getline(order, line);) addresses.push_back(line);
    RunOptions mine = o;
    mine.server.backend = backend;
    std::string error;
    SocketAddress target;
    try {
      target = pick_target(server_host, addresses);
      mine.target = target.to_string();  // this rank checks its load side only
      RunOptions share = mine;
      share.load = rank_share(o.load, world, true);
      preflight(share);
    } catch (const UsageError& e) {
      error = e.what();
    }
    try {
      measure_mpi(mine, backend, target, world, {}, {.root_serves = true, .server = nullptr, .rank_error = error});
    } catch (const UsageError&) {
      return kExitUsage;  // rank 0 says which rank could not, and why
    }
  }
}

// Rank 0: every backend in turn, served and measured; the order to each; the table and files.
int serve_and_coordinate(const MpiWorld& world, RunOptions& o, const std::vector<SkippedBackend>& skipped) {
  const auto environment = describe_environment();
  const auto print_header = header_once(o);
  std::string notes;
  std::vector<std::string> unwritten;
  for (const SkippedBackend& s : skipped) notes += fmt::format("{} skipped: {}\n", s.name, s.reason);
  int code = 0;
  for (const std::string& backend : o.backends()) {
    if (std::any_of(skipped.begin(), skipped.end(), [&](const SkippedBackend& s) { return s.name == backend; }))
      continue;
    bool ordered = false;
    RunRecord record;
    try {
      record = run_backend_with(o, backend, [&](const SocketAddress& local, MeasuredServer& server) {
        world.broadcast_text(run_order(backend, server_addresses(o, local)));
        ordered = true;
        return measure_mpi(o, backend, local, world, print_header, {.root_serves = true, .server = &server, .rank_error = {}});
      });
      std::ranges::move(publish({o, record, environment}), std::back_inserter(unwritten));
    } catch (const UsageError& e) {
      if (!ordered) world.broadcast_text(kOrderStop);
      return fail_with(e.what(), kExitUsage);
    } catch (const std::exception& e) {
      fail_with(fmt::format("{} run failed: {}", backend, e.what()), kExitFailed);
      world.abort(kExitFailed);
    }
    notes += run_notes({o, record, environment});
    if (!record.complete) {
      code = stop_signal() ? kExitInterrupted : kExitFailed;
      if (a_rank_never_reported(record)) {
        if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
        std::fflush(stdout);
        world.abort(code);
      }
      break;
    }
  }
  world.broadcast_text(kOrderEnd);
  if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
  return report_unwritten(unwritten, code);
}

}  // namespace

int mpi_run_command(int argc, char** argv) {
  MpiWorld world(argc, argv);
  if (world.size() < 2)
    return fail_everywhere(world, "mpirun started one rank: `bench --backend=B` under mpirun needs rank 0 to serve "
                                  "and at least one more rank to load (mpirun -n 2 or more)");
  if (const auto why = identity_mismatch(world, argc, argv)) return fail_everywhere(world, *why);
  int exit_code = 0;
  const auto options = parse_on_every_rank(world, [&] { return parse_run_options(argc, argv, exit_code, run_output_flags()); });
  if (!options) return exit_code;
  RunOptions o = *options;
  const auto load_ranks = static_cast<std::size_t>(world.size() - 1);
  if (const std::string why = mpi_shape_refusal(o, load_ranks); !why.empty()) return fail_everywhere(world, why);
  if (o.server.transport == kTransportUnix)
    return fail_everywhere(world, "--transport=unix under mpirun: a Unix socket is reached from its own host only; "
                                  "use TCP (the default), or run bench without mpirun");
  o.mpi_ranks = load_ranks;
  // Rank 0 checks the server's side (the load's split over the load ranks); each load rank
  // checks its own share once it knows where the server listens.
  std::vector<SkippedBackend> skipped;
  std::string error;
  if (world.root()) {
    try {
      RunOptions server_side = o;
      server_side.loadgen_processes = load_ranks;
      skipped = preflight(server_side);
    } catch (const UsageError& e) {
      error = e.what();
    }
  }
  if (const auto first = world.first_error(error)) return fail_everywhere(world, *first);
  install_stop_signals();
  pin_process(o.load.cpus);  // rank 0's server child is given --server-cpus instead
  if (!world.root()) return serve_orders_as_load_rank(world, o);
  return serve_and_coordinate(world, o, skipped);
}

}  // namespace mux
