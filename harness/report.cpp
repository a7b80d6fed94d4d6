#include "harness/report.hpp"

#include <fmt/format.h>

#include "core/echo_protocol.hpp"

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

std::string maybe(const std::optional<double>& v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : "n/a";
}

}  // namespace

std::string table_header(const RunOptions& o) {
  return fmt::format(
      "muxbench {}: echo, {} B messages, closed loop ({} in flight per connection), {} s measured after {} s warm-up\n"
      "server on CPU {}, load generator on CPU {} ({} thread{}); latency in µs; CPU is user+sys of each process\n\n"
      "{:<9}{:>8}{:>11}{:>8}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>12}{:>12}{:>9}{:>9}\n",
      MUXBENCH_VERSION, o.message_size, o.pipeline, o.duration_s, o.warmup_s, format_cpu_list(o.server_cpus),
      format_cpu_list(o.client_cpus), o.loadgen_threads, o.loadgen_threads == 1 ? "" : "s", "backend", "clients",
      "req/s", "MB/s", "p50", "p90", "p99", "p99.9", "p99.99", "max", "errors", "srv µs/req", "gen µs/req",
      "srv cpu", "gen cpu");
}

std::string table_row(const RunOptions& o, const RunRecord& r) {
  const auto& h = r.load.latency;
  const double mbps = r.throughput_rps() * static_cast<double>(o.message_size) / 1e6;
  const auto pct = [](const std::optional<double>& u) { return u ? fmt::format("{:.0f}%", *u * 100) : "n/a"; };
  return fmt::format("{:<9}{:>8}{:>11.0f}{:>8.1f}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>12}{:>12}{:>9}{:>9}{}\n",
                     r.backend, o.clients, r.throughput_rps(), mbps, us(static_cast<double>(h.value_at_percentile(50))),
                     us(static_cast<double>(h.value_at_percentile(90))), us(static_cast<double>(h.value_at_percentile(99))),
                     us(static_cast<double>(h.value_at_percentile(99.9))),
                     us(static_cast<double>(h.value_at_percentile(99.99))), us(static_cast<double>(h.max())),
                     r.load.errors.total(), maybe(per_request(r.server_cpu_us, r.load.requests), "{:.2f}"),
                     maybe(per_request(r.loadgen_cpu_us, r.load.requests), "{:.2f}"),
                     pct(utilization(r.server_cpu_us, r.measured_s, o.server_cpus.size())),
                     pct(utilization(r.loadgen_cpu_us, r.measured_s, o.client_cpus.size())),
                     r.complete ? "" : "  INCOMPLETE");
}

std::string table_notes(const RunOptions&, const RunRecord& r) {
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
  return notes;
}

nlohmann::ordered_json to_json(const RunOptions& o, const RunRecord& r, const nlohmann::ordered_json& environment) {
  using nlohmann::ordered_json;
  const auto& h = r.load.latency;
  const auto optional = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  ordered_json latency;
  for (const auto& [key, p] : kPercentiles) latency[key] = static_cast<double>(h.value_at_percentile(p)) / 1000.0;
  latency["max"] = static_cast<double>(h.max()) / 1000.0;
  latency["min"] = static_cast<double>(h.min()) / 1000.0;
  latency["mean"] = h.mean() / 1000.0;

  ordered_json doc;
  doc["schema_version"] = kSchemaVersion;
  doc["complete"] = r.complete;
  if (!r.complete) doc["incomplete_reason"] = r.incomplete_reason;
  doc["config"] = {{"backend", r.backend},
                   {"protocol", "echo"},
                   {"load_model", "closed"},
                   {"clients", o.clients},
                   {"message_size", o.message_size},
                   {"frame_size", o.message_size + kEchoHeaderSize},
                   {"pipeline", o.pipeline},
                   {"duration_s", o.duration_s},
                   {"warmup_s", o.warmup_s},
                   {"timeout_s", o.timeout_s},
                   {"server_address", r.server_address},
                   {"server_cpus", o.server_cpus},
                   {"client_cpus", o.client_cpus},
                   {"loadgen_threads", o.loadgen_threads}};
  doc["environment"] = environment;
  doc["results"] = {
      {"measured_seconds", r.measured_s},
      {"throughput_rps", r.throughput_rps()},
      {"throughput_mb_s", r.throughput_rps() * static_cast<double>(o.message_size) / 1e6},
      {"requests", r.load.requests},
      {"errors", r.load.errors.total()},
      {"errors_by_kind",
       {{"connect", r.load.errors.connect},
        {"reset", r.load.errors.reset},
        {"mismatch", r.load.errors.mismatch},
        {"timeout", r.load.errors.timeout}}},
      {"reconnects", r.load.reconnects},
      {"bytes_verified", r.load.bytes_verified},
      {"latency_us", latency},
      {"latency_relative_error_bound", LatencyHistogram::kMaxRelativeError},
      {"server_cpu_us_per_request", optional(per_request(r.server_cpu_us, r.load.requests))},
      {"loadgen_cpu_us_per_request", optional(per_request(r.loadgen_cpu_us, r.load.requests))},
      {"server_cpu_utilization", optional(utilization(r.server_cpu_us, r.measured_s, o.server_cpus.size()))},
      {"loadgen_cpu_utilization", optional(utilization(r.loadgen_cpu_us, r.measured_s, o.client_cpus.size()))},
      {"server_counters", r.server_counters},
  };
  return doc;
}

std::string json_path_for(const RunOptions& o, const std::string& backend) {
  if (o.backends().size() == 1) return o.json_path;
  std::string path = o.json_path;
  if (const auto at = path.find("{backend}"); at != std::string::npos) return path.replace(at, 9, backend);
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + "." + backend;
  return path.insert(dot, "." + backend);
}

}  // namespace mux
