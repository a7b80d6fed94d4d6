#pragma once
// A finished (or interrupted) measurement, the judgements on it (run_record.cpp), and the ways it
// is shown: a table row (run_table.cpp), a JSON document (run_json.cpp; schema: results/README.md)
// and its latency distribution as .hgrm (report_files.cpp). The reporters that write them for
// each run: harness/results/run_reporters.hpp.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/load/load_shards.hpp"
#include "harness/spec/options.hpp"
#include "harness/results/verdict.hpp"
#include "loadgen/load_config.hpp"

namespace mux {

inline constexpr int kSchemaVersion = 1;
// Why CPU figures are null when a run stopped during its warm-up.
inline constexpr const char* kNothingMeasured = "nothing was measured: the run stopped before the measured interval began";

struct RunRecord {
  std::string backend;
  std::string server_address;
  bool complete = true;
  std::string incomplete_reason;
  double measured_s = 0;                 // the measured interval as it really ran
  LoadResult load;
  std::optional<double> server_cpu_us;   // user+sys over the measured interval
  std::optional<double> loadgen_cpu_us;
  std::optional<ThreadCpuUse> server_threads;   // thread by thread, the same interval
  std::optional<ThreadCpuUse> loadgen_threads;  // the load threads
  std::string server_cpu_unknown_reason;        // why server CPU figures are null, if any is
  nlohmann::json server_counters;        // the server's own count; null if it died first
  std::optional<ServerShape> server_shape;  // loops, processes, accept design; null for `bench load`
  nlohmann::json server_loops;           // one entry per loop (results.server_loops); null if unknown
  std::string server_command;            // --server-cmd: the command as run (placeholders filled in)
  nlohmann::ordered_json kernel_counters;  // {"server", "loadgen"}: what each request cost the kernel
  // Memory the open connections cost: growth from before connecting to the start of the
  // measured interval (every connection open). Kernel socket memory is the system's TCP total.
  std::optional<double> server_memory_bytes;
  std::optional<double> loadgen_memory_bytes;
  std::optional<double> kernel_tcp_memory_bytes;
  std::string kernel_tcp_memory_unknown_reason;  // why it is null, if it is
  std::vector<ShardReport> shards;  // one per load process (results.shards)
  nlohmann::ordered_json mpi;       // results.mpi under mpirun: ranks, clocks, barrier skew; else null

  double throughput_rps() const { return measured_s > 0 ? static_cast<double>(load.requests) / measured_s : 0; }
};

std::string table_header(const RunOptions& options);
std::string table_row(const RunOptions& options, const RunRecord& record);
std::string table_notes(const RunOptions& options, const RunRecord& record);  // may be empty

// results' config: the load, the server (its field list's keys), the load generator's CPUs.
nlohmann::ordered_json config_json(const RunOptions& options, const RunRecord& record);
nlohmann::ordered_json to_json(const RunOptions& options, const RunRecord& record,
                               const nlohmann::ordered_json& environment);
// p50, p90, p99, p999, p9999, max, min, mean in µs: results.latency_us and its kin.
nlohmann::ordered_json latency_summary_json(const LatencyHistogram& histogram);
// The percentiles of latency_summary_json, by key: p50 -> 50 ... p9999 -> 99.99.
struct LatencyPercentile {
  const char* key;
  double percentile;
};
std::span<const LatencyPercentile> latency_percentiles();
// Where --json / --hgrm go for this backend: PATH, or with several backends PATH with
// {backend} replaced (or .BACKEND inserted before the extension).
std::string path_for(const RunOptions& options, const std::string& path, const std::string& backend);

// The distribution in HdrHistogram's percentile-distribution text format (values in ms),
// which HdrHistogram's plotter reads.
std::string to_hgrm(const LatencyHistogram& histogram);

// Which side limited the run, judged from CPU use (see bottleneck_verdict): "server",
// "load_generator", "both", "neither" (latency-bound: few clients), or "unknown" when either
// side's CPU was not measured.
std::string bottleneck(const RunOptions& options, const RunRecord& record);
// The server's request count against the client's; null when the server's count is unknown
// (`why` then says why).
std::optional<RequestCountCheck> request_count_check(const RunOptions& options, const RunRecord& record,
                                                     std::string* why = nullptr);
// Things a reader must know before trusting the numbers (rate missed, generator saturated...).
std::vector<std::string> warnings(const RunOptions& options, const RunRecord& record);

}  // namespace mux
