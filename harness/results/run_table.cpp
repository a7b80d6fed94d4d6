// The table on stdout: its header, one row per run, and the notes under it.
#include <fmt/format.h>

#include "harness/kernel/counter_table.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/results/report.hpp"
#include "harness/results/run_figures.hpp"
#include "harness/results/work_class_report.hpp"
#include "loadgen/load_wire.hpp"
#include "harness/spec/transport.hpp"

namespace mux {
namespace {

std::string us(double ns) {
  const double v = ns / 1000.0;
  return v < 100 ? fmt::format("{:.1f}", v) : fmt::format("{:.0f}", v);
}

std::string maybe(const std::optional<double>& v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : "n/a";
}

// The kernel counters' columns (kernel_counter_table()'s rows in the table), side by side:
// "srv sys/req", each two wider than its heading.
struct KernelColumn {
  const char* side;
  const char* field;
  std::string heading;
};

std::vector<KernelColumn> kernel_columns() {
  std::vector<KernelColumn> columns;
  for (const KernelCounterSide& side : kernel_counter_sides())
    for (const KernelCounterRow& counter : kernel_counter_table())
      if (counter.in_table())
        columns.push_back({side.key, counter.per_request, fmt::format("{} {}", side.prefix, counter.column)});
  return columns;
}

// results.kernel_counters.SIDE.FIELD for the table: "n/a" when not counted (a note says why).
std::string kernel_cell(const RunRecord& r, const char* side, const char* field) {
  const auto& kc = r.kernel_counters;
  if (!kc.is_object() || !kc[side].is_object() || !kc[side][field].is_number()) return "n/a";
  return fmt::format("{:.3f}", kc[side][field].get<double>());
}

// Several loops: how evenly they shared the connections and the requests (reuseport's hash
// and EPOLLEXCLUSIVE's LIFO wake-ups are known to skew it).
std::string loop_spread_note(const RunRecord& r) {
  if (!r.server_shape || r.server_shape->loops() < 2 || !r.server_loops.is_array() || r.server_loops.empty()) return {};
  const auto spread = [&](const char* key) -> std::string {
    std::uint64_t lo = UINT64_MAX, hi = 0;
    for (const auto& loop : r.server_loops) {
      if (!loop[key].is_number()) return "n/a";
      lo = std::min(lo, loop[key].get<std::uint64_t>());
      hi = std::max(hi, loop[key].get<std::uint64_t>());
    }
    return fmt::format("min {} max {}", lo, hi);
  };
  const ServerShape& s = *r.server_shape;
  return fmt::format("  {}: {} loops ({} process{} x {}, accept={}): connections per loop {}, requests per loop {}\n",
                     r.backend, s.loops(), s.processes, s.processes == 1 ? "" : "es", s.threads,
                     accept_mode_name(s.accept), spread("accepted"), spread("requests"));
}

// "2 threads", or with --loadgen-processes "3 processes of 1 thread" (each gets threads / K),
// or under mpirun "3 MPI ranks of 2 threads each" (each rank on its own host's CPUs); then the
// threads' I/O model (--loadgen-io).
std::string loadgen_shape(const RunOptions& o) {
  const auto threads = [](std::size_t n) { return fmt::format("{} thread{}", n, n == 1 ? "" : "s"); };
  std::string shape = threads(o.load.threads);
  if (o.mpi_ranks > 1)
    shape = fmt::format("{} MPI ranks of {} each", o.mpi_ranks, threads(o.load.threads));
  else if (o.loadgen_processes > 1)
    shape = fmt::format("{} processes of {}", o.loadgen_processes, threads(shard_threads(o.load.threads, o.loadgen_processes)));
  return fmt::format("{} on {}", shape, name_of(o.load.io));
}

}  // namespace

std::string table_header(const RunOptions& o) {
  const std::string what = o.load.protocol == "http" ? std::string(o.load.expected_body ? "HTTP/1.1 GET, body verified"
                                                                           : "HTTP/1.1 GET, body length checked")
                                                : fmt::format("{}, {} B messages", o.load.protocol, o.load.message_size.to_string());
  const std::string model =
      o.open_loop() ? fmt::format("open loop at {} req/s ({} arrivals), up to {} in flight per connection; latency from "
                                  "the intended send time",
                                  o.load.rate, name_of(o.load.arrival), o.load.pipeline)
                    : fmt::format("closed loop ({} in flight per connection)", o.load.pipeline);
  const std::string work =
      o.load.work_us != Distribution(0) ? fmt::format(" burning {} µs per request", o.load.work_us.to_string()) : "";
  std::string server = fmt::format("server on CPU {}{}{}", format_cpu_list(o.server.cpus), work,
                                   o.server.transport == kTransportUnix ? ", over the Unix socket " + o.server.socket_path : "");
  if (!o.target.empty()) {
    const bool named = !o.target_name.empty() && o.target_name != o.target;
    server = fmt::format("server {}{}", named ? fmt::format("{} ({})", o.target_name, o.target) : o.target,
                         parse_target(o.target).is_local()
                             ? ""
                             : " - not on this machine: the network's cost is in every figure below");
  }
  std::string header = fmt::format(
      "muxbench {}: {}, {}, {} s measured after {} s warm-up\n"
      "{}, load generator on CPU {} ({}); latency in µs; CPU is user+sys of each process\n\n"
      "{:<9}{:>8}{:>11}{:>8}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>12}{:>12}{:>9}{:>9}",
      MUXBENCH_VERSION, what, model, o.load.duration_s, o.load.warmup_s, server, format_cpu_list(o.load.cpus),
      loadgen_shape(o), "backend", "clients", "req/s", "MB/s", "p50", "p90",
      "p99", "p99.9", "p99.99", "max", "errors", "srv µs/req", "gen µs/req", "srv cpu", "gen cpu");
  for (const KernelColumn& column : kernel_columns())
    header += fmt::format("{:>{}}", column.heading, column.heading.size() + 2);
  return header + "\n";
}

std::string table_row(const RunOptions& o, const RunRecord& r) {
  const auto& h = r.load.latency;
  const double mbps = r.measured_s > 0 ? static_cast<double>(r.load.bytes_verified) / r.measured_s / 1e6 : 0;
  const auto pct = [](const std::optional<double>& u) { return u ? fmt::format("{:.0f}%", *u * 100) : "n/a"; };
  std::string row = fmt::format("{:<9}{:>8}{:>11.0f}{:>8.1f}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>12}{:>12}{:>9}{:>9}",
                                r.backend, o.load.clients, r.throughput_rps(), mbps, us(static_cast<double>(h.value_at_percentile(50))),
                                us(static_cast<double>(h.value_at_percentile(90))), us(static_cast<double>(h.value_at_percentile(99))),
                                us(static_cast<double>(h.value_at_percentile(99.9))),
                                us(static_cast<double>(h.value_at_percentile(99.99))), us(static_cast<double>(h.max())),
                                r.load.errors.total(), maybe(per_request(r.server_cpu_us, r.load.requests), "{:.2f}"),
                                maybe(per_request(r.loadgen_cpu_us, r.load.requests), "{:.2f}"),
                                pct(utilization(r.server_cpu_us, r.measured_s, o.server.cpus.size())),
                                pct(utilization(r.loadgen_cpu_us, r.measured_s, o.load.cpus.size())));
  for (const KernelColumn& column : kernel_columns())
    row += fmt::format("{:>{}}", kernel_cell(r, column.side, column.field), column.heading.size() + 2);
  return row + (r.complete ? "" : "  INCOMPLETE") + "\n";
}

std::string table_notes(const RunOptions& o, const RunRecord& r) {
  std::string notes;
  if (!r.complete) notes += fmt::format("  {}: incomplete: {}\n", r.backend, r.incomplete_reason);
  const auto& e = r.load.errors;
  if (e.total() > 0)
    notes += fmt::format("  {}: errors: {} connect, {} reset/closed, {} mismatched bytes, {} timeouts\n", r.backend,
                         e.connect, e.reset, e.mismatch, e.timeout);
  const auto& c = r.server_counters;
  if (c.is_object() && (c.value("dropped_at_accept", 0) > 0 || c.value("refused", 0) > 0))
    notes += fmt::format("  {}: server dropped {} connections at accept (out of fds) and refused {}\n", r.backend,
                         c.value("dropped_at_accept", 0), c.value("refused", 0));
  if (o.open_loop()) {
    const auto& u = r.load.latency_uncorrected;
    notes += fmt::format("  {}: target {:.0f} req/s, achieved {:.0f} ({:.1f}%); uncorrected latency (from the actual "
                         "send): p50 {} p99 {} p99.9 {} max {} µs\n",
                         r.backend, o.load.rate, r.throughput_rps(), 100 * r.throughput_rps() / o.load.rate,
                         us(static_cast<double>(u.value_at_percentile(50))),
                         us(static_cast<double>(u.value_at_percentile(99))),
                         us(static_cast<double>(u.value_at_percentile(99.9))), us(static_cast<double>(u.max())));
  }
  if (o.load.churn > 0 && r.measured_s > 0)
    notes += fmt::format("  {}: churn: {:.0f} connects/s, connect latency p50 {} p99 {} µs\n", r.backend,
                         static_cast<double>(r.load.churn_connects) / r.measured_s,
                         us(static_cast<double>(r.load.connect_latency.value_at_percentile(50))),
                         us(static_cast<double>(r.load.connect_latency.value_at_percentile(99))));
  if (o.load.idle > 0 || o.load.clients >= 10000) {
    const auto per = [&](const std::optional<double>& b) {
      return b ? fmt::format("{:.1f} KiB", *b / static_cast<double>(o.load.clients + o.load.idle) / 1024) : std::string("n/a");
    };
    notes += fmt::format("  {}: memory per connection ({} open): server {}, load generator {}, kernel TCP (both "
                         "sides) {}\n",
                         r.backend, o.load.clients + o.load.idle, per(r.server_memory_bytes), per(r.loadgen_memory_bytes),
                         per(r.kernel_tcp_memory_bytes));
  }
  if (o.load.io_fallback)
    notes += fmt::format("  {}: load generator on epoll, not io_uring: {}\n", r.backend, *o.load.io_fallback);
  notes += loop_spread_note(r);
  notes += work_class_note(o, r);
  if (o.counters) notes += kernel_counter_notes(r.backend, r.kernel_counters, o.show_syscalls);
  for (const auto& w : warnings(o, r)) notes += fmt::format("  {}: WARNING: {}\n", r.backend, w);
  return notes;
}

}  // namespace mux
