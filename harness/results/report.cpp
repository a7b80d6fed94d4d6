#include "harness/results/report.hpp"

#include <fmt/format.h>

#include "core/echo_protocol.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/spec/transport.hpp"
#include "harness/results/work_class_report.hpp"

namespace mux {
namespace {

struct Percentile {
  const char* key;
  double p;
};
constexpr Percentile kPercentiles[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}, {"p9999", 99.99}};

std::string us(double ns) {
  const double v = ns / 1000.0;
  return v < 100 ? fmt::format("{:.1f}", v) : fmt::format("{:.0f}", v);
}

std::optional<double> per_request(const std::optional<double>& cpu_us, std::uint64_t requests) {
  if (!cpu_us || requests == 0) return std::nullopt;
  return *cpu_us / static_cast<double>(requests);
}

std::optional<double> utilization(const std::optional<double>& cpu_us, double seconds, std::size_t cores) {
  if (!cpu_us || seconds <= 0 || cores == 0) return std::nullopt;
  return *cpu_us / (seconds * 1e6 * static_cast<double>(cores));
}

// Share of one core the side's busiest thread ran for.
std::optional<double> busiest_thread_utilization(const std::optional<ThreadCpuUse>& threads, double seconds) {
  if (!threads || !threads->busiest_on_cpu_ns || seconds <= 0) return std::nullopt;
  return static_cast<double>(*threads->busiest_on_cpu_ns) / (seconds * 1e9);
}

// Share of the window the side's busiest thread had work: ran, or waited ready to run.
std::optional<double> busiest_thread_demand(const std::optional<ThreadCpuUse>& threads, double seconds) {
  if (!threads || !threads->busiest_demand_ns || seconds <= 0) return std::nullopt;
  return static_cast<double>(*threads->busiest_demand_ns) / (seconds * 1e9);
}

SideCpu server_side(const RunOptions& o, const RunRecord& r) {
  return {.total_us = r.server_cpu_us, .threads = r.server_threads, .cores = o.server.cpus.size()};
}
SideCpu loadgen_side(const RunOptions& o, const RunRecord& r) {
  return {.total_us = r.loadgen_cpu_us, .threads = r.loadgen_threads, .cores = o.load.cpus.size()};
}

std::string maybe(const std::optional<double>& v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : "n/a";
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

// results.timeline: one entry per second of the measured interval (the last may be shorter).
nlohmann::ordered_json timeline_json(const RunRecord& r) {
  nlohmann::ordered_json timeline = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < r.load.timeline.size() && static_cast<double>(i) < r.measured_s; ++i) {
    const Interval& s = r.load.timeline[i];
    const double length = std::min(1.0, r.measured_s - static_cast<double>(i));
    timeline.push_back({{"t_s", static_cast<double>(i) + length},
                        {"requests", s.requests},
                        {"throughput_rps", static_cast<double>(s.requests) / length},
                        {"p50_us", static_cast<double>(s.latency.value_at_percentile(50)) / 1000.0},
                        {"p99_us", static_cast<double>(s.latency.value_at_percentile(99)) / 1000.0},
                        {"max_us", static_cast<double>(s.latency.max()) / 1000.0},
                        {"errors", s.errors}});
  }
  return timeline;
}

}  // namespace

// "2 threads", or with --loadgen-processes "3 processes of 1 thread" (each gets threads / K),
// or under mpirun "3 MPI ranks of 2 threads each" (each rank on its own host's CPUs).
static std::string loadgen_shape(const RunOptions& o) {
  const auto threads = [](std::size_t n) { return fmt::format("{} thread{}", n, n == 1 ? "" : "s"); };
  if (o.mpi_ranks > 1) return fmt::format("{} MPI ranks of {} each", o.mpi_ranks, threads(o.load.threads));
  if (o.loadgen_processes == 1) return threads(o.load.threads);
  return fmt::format("{} processes of {}", o.loadgen_processes,
                     threads(shard_threads(o.load.threads, o.loadgen_processes)));
}

std::string table_header(const RunOptions& o) {
  const std::string what = o.load.protocol == "http" ? std::string(o.load.expected_body ? "HTTP/1.1 GET, body verified"
                                                                           : "HTTP/1.1 GET, body length checked")
                                                : fmt::format("{}, {} B messages", o.load.protocol, o.load.message_size.to_string());
  const std::string model =
      o.open_loop() ? fmt::format("open loop at {} req/s ({} arrivals), up to {} in flight per connection; latency from "
                                  "the intended send time",
                                  o.load.rate, arrival_name(o.load.arrival), o.load.pipeline)
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
  return fmt::format(
      "muxbench {}: {}, {}, {} s measured after {} s warm-up\n"
      "{}, load generator on CPU {} ({}); latency in µs; CPU is user+sys of each process\n\n"
      "{:<9}{:>8}{:>11}{:>8}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>12}{:>12}{:>9}{:>9}{:>13}{:>12}{:>13}{:>12}\n",
      MUXBENCH_VERSION, what, model, o.load.duration_s, o.load.warmup_s, server, format_cpu_list(o.load.cpus),
      loadgen_shape(o), "backend", "clients", "req/s", "MB/s", "p50", "p90",
      "p99", "p99.9", "p99.99", "max", "errors", "srv µs/req", "gen µs/req", "srv cpu", "gen cpu", "srv sys/req",
      "srv cs/req", "gen sys/req", "gen cs/req");
}

std::string table_row(const RunOptions& o, const RunRecord& r) {
  const auto& h = r.load.latency;
  const double mbps = r.measured_s > 0 ? static_cast<double>(r.load.bytes_verified) / r.measured_s / 1e6 : 0;
  const auto pct = [](const std::optional<double>& u) { return u ? fmt::format("{:.0f}%", *u * 100) : "n/a"; };
  return fmt::format("{:<9}{:>8}{:>11.0f}{:>8.1f}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>12}{:>12}{:>9}{:>9}{:>13}{:>12}{:>13}{:>12}{}\n",
                     r.backend, o.load.clients, r.throughput_rps(), mbps, us(static_cast<double>(h.value_at_percentile(50))),
                     us(static_cast<double>(h.value_at_percentile(90))), us(static_cast<double>(h.value_at_percentile(99))),
                     us(static_cast<double>(h.value_at_percentile(99.9))),
                     us(static_cast<double>(h.value_at_percentile(99.99))), us(static_cast<double>(h.max())),
                     r.load.errors.total(), maybe(per_request(r.server_cpu_us, r.load.requests), "{:.2f}"),
                     maybe(per_request(r.loadgen_cpu_us, r.load.requests), "{:.2f}"),
                     pct(utilization(r.server_cpu_us, r.measured_s, o.server.cpus.size())),
                     pct(utilization(r.loadgen_cpu_us, r.measured_s, o.load.cpus.size())),
                     kernel_cell(r, "server", "syscalls_per_request"),
                     kernel_cell(r, "server", "context_switches_per_request"),
                     kernel_cell(r, "loadgen", "syscalls_per_request"),
                     kernel_cell(r, "loadgen", "context_switches_per_request"), r.complete ? "" : "  INCOMPLETE");
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
  notes += loop_spread_note(r);
  notes += work_class_note(o, r);
  if (o.counters) notes += kernel_counter_notes(r.backend, r.kernel_counters, o.show_syscalls);
  for (const auto& w : warnings(o, r)) notes += fmt::format("  {}: WARNING: {}\n", r.backend, w);
  return notes;
}

std::string bottleneck(const RunOptions& o, const RunRecord& r) {
  return bottleneck_verdict(server_side(o, r), loadgen_side(o, r), r.measured_s);
}

std::optional<RequestCountCheck> request_count_check(const RunOptions& o, const RunRecord& r, std::string* why) {
  const auto& c = r.server_counters;
  if (!c.is_object() || !c.contains("requests") || !c["requests"].is_number_unsigned()) {
    if (why != nullptr)
      *why = !o.target.empty()       ? "bench load: the server is not started by bench and reports no count"
             : !o.server.command.empty() ? "a --server-cmd server reports no count"
             : c.is_object()   ? "the server does not count the requests of this protocol"
                               : "the server reported no counters (it ended before it was asked)";
    return std::nullopt;
  }
  return RequestCountCheck{.client_completed = r.load.completed_total,
                           .client_sent = r.load.sent_total,
                           .server_answered = c["requests"].get<std::uint64_t>()};
}

std::vector<std::string> warnings(const RunOptions& o, const RunRecord& r) {
  std::vector<std::string> w;
  if (o.open_loop() && r.measured_s > 0 && r.throughput_rps() < 0.95 * o.load.rate)
    w.push_back(fmt::format("achieved {:.0f} req/s, below 95% of the target {:.0f}: the latencies describe an "
                            "overloaded system",
                            r.throughput_rps(), o.load.rate));
  if (const auto check = request_count_check(o, r); check && !check->ok())
    w.push_back(fmt::format("the server answered {} requests, outside what the client saw ({} replies completed, {} "
                            "requests sent in full): one side miscounts, so neither count can be trusted",
                            check->server_answered, check->client_completed, check->client_sent));
  const std::string who = bottleneck(o, r);
  if (who == "unknown" && !r.server_cpu_us && saturated(loadgen_side(o, r), r.measured_s).value_or(false))
    w.push_back("the load generator was saturated and the server's CPU is not measured: the throughput may be the "
                "load generator's limit, not the server's");
  if (who == "load_generator")
    w.push_back("the load generator, not the server, was saturated: the server can do more than this; give the "
                "load generator more cores (--client-cpus, --loadgen-threads) or use --pipeline");
  if (who == "both")
    w.push_back("server and load generator were both saturated: the throughput is a lower bound of the server's "
                "capacity; compare backends by server CPU per request");
  return w;
}

// Bytes the open connections cost, in total and per connection (clients + idle).
static nlohmann::ordered_json memory_json(const RunOptions& o, const RunRecord& r) {
  const auto connections = static_cast<double>(o.load.clients + o.load.idle);
  const auto entry = [&](const std::optional<double>& bytes) {
    if (!bytes) return nlohmann::ordered_json();
    return nlohmann::ordered_json{{"bytes", *bytes}, {"bytes_per_connection", *bytes / connections}};
  };
  nlohmann::ordered_json memory = {{"server_process", entry(r.server_memory_bytes)},
                                    {"loadgen_process", entry(r.loadgen_memory_bytes)},
                                    {"kernel_tcp_both_sides", entry(r.kernel_tcp_memory_bytes)}};
  if (!r.kernel_tcp_memory_bytes && !r.kernel_tcp_memory_unknown_reason.empty())
    memory["kernel_tcp_unknown_reason"] = r.kernel_tcp_memory_unknown_reason;
  return memory;
}

nlohmann::ordered_json latency_summary_json(const LatencyHistogram& hist) {
  nlohmann::ordered_json l;
  for (const auto& [key, p] : kPercentiles) l[key] = static_cast<double>(hist.value_at_percentile(p)) / 1000.0;
  l["max"] = static_cast<double>(hist.max()) / 1000.0;
  l["min"] = static_cast<double>(hist.min()) / 1000.0;
  l["mean"] = hist.mean() / 1000.0;
  return l;
}

// One entry per load process, with its latency histogram counter by counter (bounds in ns) so
// that anyone can merge the shards again and check the merged percentiles.
static nlohmann::ordered_json shards_json(const RunRecord& r) {
  using nlohmann::ordered_json;
  ordered_json shards = ordered_json::array();
  for (const ShardReport& s : r.shards) {
    ordered_json histogram = ordered_json::array();
    if (s.load)
      for (std::size_t i = 0; i < s.load->latency.counters(); ++i)
        if (const std::uint64_t n = s.load->latency.count_at(i))
          histogram.push_back({s.load->latency.lowest_of(i), s.load->latency.highest_of(i), n});
    shards.push_back({{"pid", s.pid},
                      {"host", s.host},
                      {"clients", s.clients},
                      {"complete", s.failure.empty()},
                      {"failure", s.failure.empty() ? ordered_json() : ordered_json(s.failure)},
                      {"requests", s.load ? ordered_json(s.load->requests) : ordered_json()},
                      {"errors", s.load ? ordered_json(s.load->errors.total()) : ordered_json()},
                      {"cpu_us", s.cpu_us ? ordered_json(*s.cpu_us) : ordered_json()},
                      {"memory_bytes", s.memory_bytes ? ordered_json(*s.memory_bytes) : ordered_json()},
                      // An MPI rank's own counts (a load process's are in the load side's total).
                      {"kernel_counters", s.kernel && s.load ? window_json(*s.kernel, s.load->requests, "this rank's process, "
                                                                           "counted by itself over its window")
                                                             : ordered_json()},
                      {"latency_max_ns", s.load ? ordered_json(s.load->latency.max()) : ordered_json()},
                      {"latency_histogram_ns", histogram}});
  }
  return shards;
}

nlohmann::ordered_json to_json(const RunOptions& o, const RunRecord& r, const nlohmann::ordered_json& environment) {
  using nlohmann::ordered_json;
  const auto& h = r.load.latency;
  const auto optional = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  const auto summary = latency_summary_json;
  ordered_json spectrum = ordered_json::array();
  for (const auto& point : h.percentile_spectrum())
    spectrum.push_back({{"percentile", point.percentile}, {"value_us", static_cast<double>(point.value) / 1000.0}});

  std::string no_count_reason;
  const auto count_check = request_count_check(o, r, &no_count_reason);
  const ordered_json count_check_json =
      count_check ? ordered_json{{"client_completed", count_check->client_completed},
                                 {"client_sent", count_check->client_sent},
                                 {"server_answered", count_check->server_answered},
                                 {"ok", count_check->ok()}}
                  : ordered_json();

  ordered_json doc;
  doc["schema_version"] = kSchemaVersion;
  doc["complete"] = r.complete;
  if (!r.complete) doc["incomplete_reason"] = r.incomplete_reason;
  doc["config"] = config_json(o, r);
  doc["environment"] = environment;
  doc["results"] = {
      {"measured_seconds", r.measured_s},
      {"throughput_rps", r.throughput_rps()},
      {"throughput_mb_s", r.measured_s > 0 ? static_cast<double>(r.load.bytes_verified) / r.measured_s / 1e6 : 0.0},
      {"target_rps", o.open_loop() ? ordered_json(o.load.rate) : ordered_json()},
      {"achieved_fraction_of_target", o.open_loop() ? ordered_json(r.throughput_rps() / o.load.rate) : ordered_json()},
      {"requests", r.load.requests},
      {"errors", r.load.errors.total()},
      {"errors_by_kind",
       {{"connect", r.load.errors.connect},
        {"reset", r.load.errors.reset},
        {"mismatch", r.load.errors.mismatch},
        {"timeout", r.load.errors.timeout}}},
      {"reconnects", r.load.reconnects},
      {"connects_per_second", o.load.churn > 0 && r.measured_s > 0
                                  ? ordered_json(static_cast<double>(r.load.churn_connects) / r.measured_s)
                                  : ordered_json()},
      {"connect_latency_us", o.load.churn > 0 ? summary(r.load.connect_latency) : ordered_json()},
      {"memory", memory_json(o, r)},
      {"bytes_verified", r.load.bytes_verified},
      {"latency_us", summary(h)},
      {"latency_uncorrected_us", summary(r.load.latency_uncorrected)},
      {"latency_spectrum", spectrum},
      {"latency_relative_error_bound", LatencyHistogram::kMaxRelativeError},
      {"server_cpu_us_per_request", optional(per_request(r.server_cpu_us, r.load.requests))},
      {"loadgen_cpu_us_per_request", optional(per_request(r.loadgen_cpu_us, r.load.requests))},
      {"server_cpu_utilization", optional(utilization(r.server_cpu_us, r.measured_s, o.server.cpus.size()))},
      {"loadgen_cpu_utilization", optional(utilization(r.loadgen_cpu_us, r.measured_s, o.load.cpus.size()))},
      {"server_busiest_thread_utilization", optional(busiest_thread_utilization(r.server_threads, r.measured_s))},
      {"loadgen_busiest_thread_utilization", optional(busiest_thread_utilization(r.loadgen_threads, r.measured_s))},
      {"server_busiest_thread_demand", optional(busiest_thread_demand(r.server_threads, r.measured_s))},
      {"loadgen_busiest_thread_demand", optional(busiest_thread_demand(r.loadgen_threads, r.measured_s))},
      {"bottleneck", bottleneck(o, r)},
      {"loadgen_saturated", bottleneck(o, r) == "load_generator"},
      {"server_counters", r.server_counters},
      {"server_loops", r.server_loops},
      {"request_count_check", count_check_json},
      {"kernel_counters", r.kernel_counters},
      {"timeline", timeline_json(r)},
      {"shards", shards_json(r)},
  };
  auto& results = doc["results"];
  if (!r.mpi.is_null()) results["mpi"] = r.mpi;
  if (!r.server_cpu_unknown_reason.empty()) results["server_cpu_unknown_reason"] = r.server_cpu_unknown_reason;
  if (!r.loadgen_cpu_us) results["loadgen_cpu_unknown_reason"] = kNothingMeasured;
  if (!count_check) results["request_count_check_unknown_reason"] = no_count_reason;
  add_work_class_json(o, r, results);
  doc["warnings"] = warnings(o, r);
  return doc;
}

}  // namespace mux
