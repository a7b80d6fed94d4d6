// The run's JSON document (schema: results/README.md): its configuration, the environment it
// ran in, its results and the warnings.
#include <algorithm>

#include <fmt/format.h>

#include "core/echo_protocol.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/results/report.hpp"
#include "harness/results/run_figures.hpp"
#include "harness/results/work_class_report.hpp"
#include "loadgen/load_wire.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

constexpr LatencyPercentile kPercentiles[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}, {"p9999", 99.99}};

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

// Bytes the open connections cost, in total and per connection (clients + idle).
ordered_json memory_json(const RunOptions& o, const RunRecord& r) {
  const auto connections = static_cast<double>(o.load.clients + o.load.idle);
  const auto entry = [&](const std::optional<double>& bytes) {
    if (!bytes) return ordered_json();
    return ordered_json{{"bytes", *bytes}, {"bytes_per_connection", *bytes / connections}};
  };
  ordered_json memory = {{"server_process", entry(r.server_memory_bytes)},
                         {"loadgen_process", entry(r.loadgen_memory_bytes)},
                         {"kernel_tcp_both_sides", entry(r.kernel_tcp_memory_bytes)}};
  if (!r.kernel_tcp_memory_bytes && !r.kernel_tcp_memory_unknown_reason.empty())
    memory["kernel_tcp_unknown_reason"] = r.kernel_tcp_memory_unknown_reason;
  return memory;
}

// One entry per load process, with its latency histogram counter by counter (bounds in ns) so
// that anyone can merge the shards again and check the merged percentiles.
ordered_json shards_json(const RunRecord& r) {
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

ordered_json spectrum_json(const LatencyHistogram& h) {
  ordered_json spectrum = ordered_json::array();
  for (const auto& point : h.percentile_spectrum())
    spectrum.push_back({{"percentile", point.percentile}, {"value_us", static_cast<double>(point.value) / 1000.0}});
  return spectrum;
}

// One entry per second of the measured window (the last one may be shorter).
ordered_json timeline_json(const RunRecord& r) {
  ordered_json timeline = ordered_json::array();
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

ordered_json results_json(const RunOptions& o, const RunRecord& r) {
  const auto& h = r.load.latency;
  const auto optional = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  const auto summary = latency_summary_json;
  std::string no_count_reason;
  const auto count_check = request_count_check(o, r, &no_count_reason);
  const ordered_json count_check_json =
      count_check ? ordered_json{{"client_completed", count_check->client_completed},
                                 {"client_sent", count_check->client_sent},
                                 {"server_answered", count_check->server_answered},
                                 {"ok", count_check->ok()}}
                  : ordered_json();
  ordered_json results = {
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
      {"latency_spectrum", spectrum_json(h)},
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
  if (!r.mpi.is_null()) results["mpi"] = r.mpi;
  if (!r.server_cpu_unknown_reason.empty()) results["server_cpu_unknown_reason"] = r.server_cpu_unknown_reason;
  if (!r.loadgen_cpu_us) results["loadgen_cpu_unknown_reason"] = kNothingMeasured;
  if (!count_check) results["request_count_check_unknown_reason"] = no_count_reason;
  add_work_class_json(o, r, results);
  return results;
}

}  // namespace

std::span<const LatencyPercentile> latency_percentiles() { return kPercentiles; }

ordered_json latency_summary_json(const LatencyHistogram& hist) {
  ordered_json l;
  for (const auto& [key, p] : kPercentiles) l[key] = static_cast<double>(hist.value_at_percentile(p)) / 1000.0;
  l["max"] = static_cast<double>(hist.max()) / 1000.0;
  l["min"] = static_cast<double>(hist.min()) / 1000.0;
  l["mean"] = hist.mean() / 1000.0;
  return l;
}

ordered_json to_json(const RunOptions& o, const RunRecord& r, const ordered_json& environment) {
  ordered_json doc;
  doc["schema_version"] = kSchemaVersion;
  doc["complete"] = r.complete;
  if (!r.complete) doc["incomplete_reason"] = r.incomplete_reason;
  doc["config"] = config_json(o, r);
  doc["environment"] = environment;
  doc["results"] = results_json(o, r);
  doc["warnings"] = warnings(o, r);
  return doc;
}

}  // namespace mux
