// `bench capacity --slo='p99<=1ms'`: the highest open-loop rate a backend carries while the
// SLO holds. The closed-loop capacity is measured first (a request always outstanding on every
// connection: the most the server carries at all); a bracketing search (harness/capacity_search)
// then probes open-loop rates, each a complete `bench` run against a fresh server, and judges
// each on its corrected latencies (harness/slo). The answer is a bracket: the highest rate that
// passed, twice, and the lowest that failed above it.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "harness/sweep/capacity_command.hpp"

#include "harness/results/run_reporters.hpp"
#include "harness/sweep/capacity_search.hpp"
#include "harness/system/exit_status.hpp"
#include "harness/system/environment.hpp"
#include "harness/run/measurement.hpp"
#include "harness/run/preflight.hpp"
#include "harness/spec/slo.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

struct Probe {
  double target_rps;  // 0: the closed-loop probe
  RunRecord record;
  std::string failures;  // empty: passed (open-loop probes only)
};

std::string us_text(std::uint64_t ns) { return fmt::format("{:.1f}", static_cast<double>(ns) / 1e3); }

std::string probe_row(const Probe& p, std::size_t index) {
  const LatencyHistogram& h = p.record.load.latency;
  const bool closed = p.target_rps <= 0;
  return fmt::format("{:>5}  {:>12}  {:>12.0f}  {:>9}  {:>9}  {:>9}  {:>6}  {}\n", closed ? "cl" : fmt::format("{}", index),
                     closed ? "closed loop" : fmt::format("{:.0f}", p.target_rps), p.record.throughput_rps(),
                     us_text(h.value_at_percentile(50)), us_text(h.value_at_percentile(99)),
                     us_text(h.value_at_percentile(99.9)), p.record.load.errors.total(),
                     closed ? "" : p.failures.empty() ? "pass" : "fail: " + p.failures);
}

ordered_json probe_json(const Probe& p, const std::vector<SloTerm>& slo) {
  const LatencyHistogram& h = p.record.load.latency;
  ordered_json at_slo = ordered_json::object();
  for (const SloTerm& t : slo) at_slo[fmt::format("p{}", t.percentile)] = static_cast<double>(h.value_at_percentile(t.percentile)) / 1e3;
  const bool closed = p.target_rps <= 0;
  return {{"load_model", closed ? "closed" : "open"},
          {"target_rps", closed ? ordered_json() : ordered_json(p.target_rps)},
          {"achieved_rps", p.record.throughput_rps()},
          {"requests", p.record.load.requests},
          {"errors", p.record.load.errors.total()},
          {"complete", p.record.complete},
          {"latency_us", latency_summary_json(h)},
          {"slo_percentiles_us", at_slo},
          {"server_cpu_us_per_request",
           p.record.server_cpu_us && p.record.load.requests > 0
               ? ordered_json(*p.record.server_cpu_us / static_cast<double>(p.record.load.requests))
               : ordered_json()},
          {"verdict", closed ? ordered_json() : ordered_json(p.failures.empty() ? "pass" : "fail")},
          {"failures", closed || p.failures.empty() ? ordered_json() : ordered_json(p.failures)}};
}

// The run options of one probe: the user's, at `rate` (0: closed loop), writing no files.
RunOptions probe_options(const RunOptions& o, double rate) {
  RunOptions p = o;
  p.load.rate = rate;
  p.outputs.clear();
  return p;
}

}  // namespace

std::optional<RunOptions> parse_capacity_options(int argc, char** argv, int& exit_code, CapacityFlags& flags) {
  return parse_run_options(
      argc, argv, exit_code, run_output_flags(), "bench capacity",
      [&flags](CLI::App& app) {
        app.description("Find the highest request rate each backend carries while a latency SLO holds: the "
                        "closed-loop capacity first, then a bracketing search over open-loop rates.");
        app.add_option("--slo", flags.slo_text,
                       "latency objective(s) on corrected latency, all of which must hold, e.g. p99<=1ms or "
                       "p99<=1ms,p99.9<=5ms; a probe also needs its achieved rate within 5% of the target and no errors")
            ->required();
        app.add_option("--max-probes", flags.max_probes, "runs per backend, the closed-loop one included")
            ->check(CLI::Range(3, 50))->capture_default_str();
      },
      [&flags](const RunOptions& o) {
        flags.slo = parse_slo(flags.slo_text);
        if (o.load.rate > 0) throw UsageError("bench capacity chooses the rates itself; drop --rate");
      });
}

namespace {

// One backend's search: the closed-loop probe, then the bracketing search's open-loop probes,
// each printed as it ends; stops early on a stop signal.
struct BackendSearch {
  std::vector<Probe> probes;
  CapacitySearch search{0, 0};
  bool interrupted = false;
  bool complete() const { return !interrupted && probes.front().record.complete; }
};

BackendSearch search_backend(const RunOptions& o, const CapacityFlags& flags, const std::string& backend,
                             const std::function<void()>& print_header) {
  BackendSearch s;
  auto run_probe = [&](double rate) {
    Probe p{rate, run_backend(probe_options(o, rate), backend, print_header), {}};
    if (rate > 0)
      p.failures = slo_failures(flags.slo, p.record.load.latency,
                                {rate, p.record.throughput_rps(), p.record.load.errors.total(), p.record.complete});
    if (s.probes.empty())
      std::fputs(fmt::format("\n{}\n{:>5}  {:>12}  {:>12}  {:>9}  {:>9}  {:>9}  {:>6}  {}\n", backend, "probe",
                             "target req/s", "achieved", "p50 µs", "p99 µs", "p99.9 µs", "errors", "verdict")
                     .c_str(),
                 stdout);
    std::fputs(probe_row(p, s.probes.size()).c_str(), stdout);
    std::fflush(stdout);
    s.interrupted = stop_signal() != 0;
    s.probes.push_back(std::move(p));
  };
  run_probe(0);
  s.search = CapacitySearch(s.probes.front().record.throughput_rps(), flags.max_probes - 1);
  for (std::optional<double> rate; !s.interrupted && (rate = s.search.next());) {
    run_probe(*rate);
    s.search.record(*rate, s.probes.back().failures.empty());
  }
  return s;
}

std::string search_summary(const BackendSearch& s, const std::string& backend, const std::string& slo) {
  const auto upper = s.search.upper_bound();
  std::string summary =
      s.search.capacity() > 0
          ? fmt::format("{}: capacity {:.0f} req/s at {} ({}; {} probes)", backend, s.search.capacity(), slo,
                        upper ? fmt::format("below {:.0f} req/s, which failed", *upper)
                              : "every rate probed passed: the capacity may be higher",
                        s.probes.size())
          : fmt::format("{}: no rate down to {:.0f} req/s met {} ({} probes)", backend, upper.value_or(0), slo,
                        s.probes.size());
  if (!s.complete()) summary += "  INCOMPLETE";
  return summary;
}

// The closed-loop probe's whole document (what a sweep summarizes: throughput, CPU, kernel
// counters), with the search's answer and every probe added.
ordered_json search_json(const BackendSearch& s, const RunOptions& o, const CapacityFlags& flags, const std::string& slo,
                         const ordered_json& environment) {
  const auto upper = s.search.upper_bound();
  ordered_json doc = to_json(probe_options(o, 0), s.probes.front().record, environment);
  doc["kind"] = "capacity";
  doc["complete"] = s.complete();
  if (!s.complete() && !doc.contains("incomplete_reason")) doc["incomplete_reason"] = "interrupted";
  doc["config"]["slo"] = slo;
  doc["config"]["max_probes"] = flags.max_probes;
  ordered_json all = ordered_json::array();
  for (const Probe& p : s.probes) all.push_back(probe_json(p, flags.slo));
  auto& results = doc["results"];
  results["closed_loop_rps"] = s.probes.front().record.throughput_rps();
  results["capacity_rps"] = s.search.capacity();
  results["capacity_upper_bound_rps"] = upper ? ordered_json(*upper) : ordered_json();
  if (!upper) results["capacity_upper_bound_unknown_reason"] = "every rate probed met the SLO";
  results["capacity_precision"] = kCapacityPrecision;
  results["slo"] = slo;
  results["probes"] = all;
  return doc;
}

}  // namespace

int capacity_command(int argc, char** argv) {
  CapacityFlags flags;
  int exit_code = 0;
  const auto options = parse_capacity_options(argc - 1, argv + 1, exit_code, flags);
  if (!options) return exit_code;
  const RunOptions& o = *options;
  std::vector<SkippedBackend> skipped;
  try {
    skipped = preflight(o);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }
  install_stop_signals();
  pin_process(o.load.cpus);
  const auto environment = describe_environment();
  const std::string slo = slo_text(flags.slo);
  bool header_printed = false;
  const auto print_header = [&] {
    if (header_printed) return;
    std::fputs(fmt::format("# bench capacity: SLO {} on corrected latency, {} clients, {:g} s per probe after {:g} s "
                           "warm-up, at most {} probes per backend\n",
                           slo, o.load.clients, o.load.duration_s, o.load.warmup_s, flags.max_probes)
                   .c_str(),
               stdout);
    std::fflush(stdout);
    header_printed = true;
  };
  std::string notes;
  std::vector<std::string> unwritten;
  for (const SkippedBackend& s : skipped) notes += fmt::format("{} skipped: {}\n", s.name, s.reason);
  for (const std::string& backend : o.backends()) {
    if (std::any_of(skipped.begin(), skipped.end(), [&](const SkippedBackend& s) { return s.name == backend; }))
      continue;
    try {
      const BackendSearch search = search_backend(o, flags, backend, print_header);
      std::fputs(fmt::format("{}\n", search_summary(search, backend, slo)).c_str(), stdout);
      // The per-run files are the closed-loop probe's (its .hgrm), with its JSON document the
      // search's. A failed write (disk full) keeps the other files, the other backends' searches
      // and the notes.
      const ReportedRun closed_loop{o, search.probes.front().record, environment,
                                    [&] { return search_json(search, o, flags, slo, environment); }};
      std::ranges::move(write_run_files(closed_loop), std::back_inserter(unwritten));
      if (!search.complete()) {
        if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
        return report_unwritten(unwritten, stop_signal() ? kExitInterrupted : kExitFailed);
      }
    } catch (const UsageError& e) {
      return fail_with(e.what(), kExitUsage);
    } catch (const std::exception& e) {
      return fail_with(fmt::format("{} capacity probe failed: {}", backend, e.what()), kExitFailed);
    }
  }
  if (!notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
  return report_unwritten(unwritten, 0);
}

}  // namespace mux
