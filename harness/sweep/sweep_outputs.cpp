#include "harness/sweep/sweep_outputs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

#include "core/median_interval.hpp"
#include "harness/kernel/counter_table.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

// The metrics a sweep summarizes: name, and where each run's JSON has it.
struct Metric {
  std::string name;
  std::string section;  // in results
  std::string key;      // empty: results[section] itself; else a dotted path in it
  std::string kernel_side = {};  // a kernel counter's: its side of results.kernel_counters
};

// "server_syscalls_per_request": a kernel counter's per request, on one side.
std::string kernel_metric_name(std::string_view side, const KernelCounterRow& counter) {
  return fmt::format("{}_{}", side, counter.per_request);
}

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> list = [] {
    std::vector<Metric> m = {
        {"throughput_rps", "throughput_rps", ""},
        {"target_rps", "target_rps", ""},  // open loop (--rates) only
        {"achieved_fraction_of_target", "achieved_fraction_of_target", ""},
        {"capacity_rps", "capacity_rps", ""},  // --capacity=SLO only
        {"p50_us", "latency_us", "p50"},
        {"p90_us", "latency_us", "p90"},
        {"p99_us", "latency_us", "p99"},
        {"p999_us", "latency_us", "p999"},
        {"max_us", "latency_us", "max"},
        {"server_cpu_us_per_request", "server_cpu_us_per_request", ""},
        {"loadgen_cpu_us_per_request", "loadgen_cpu_us_per_request", ""},
        {"errors", "errors", ""},
    };
    // What each request cost the kernel: the counters the run table shows, each side's.
    for (const KernelCounterSide& side : kernel_counter_sides())
      for (const KernelCounterRow& counter : kernel_counter_table())
        if (counter.in_table())
          m.push_back({kernel_metric_name(side.key, counter), "kernel_counters",
                       fmt::format("{}.{}", side.key, counter.per_request), side.key});
    return m;
  }();
  return list;
}

// results.kernel_counters.server, the side whose counters the summary's table, Google
// Benchmark's user counters and BMF show.
const KernelCounterSide& server_side() { return kernel_counter_sides().front(); }

// The server's kernel counters in the summary's table: the run table's "srv" columns.
struct SummaryColumn {
  std::string metric;
  std::string heading;
};
std::vector<SummaryColumn> server_kernel_columns() {
  std::vector<SummaryColumn> columns;
  for (const KernelCounterRow& counter : kernel_counter_table())
    if (counter.in_table())
      columns.push_back({kernel_metric_name(server_side().key, counter),
                         fmt::format("{} {}", server_side().prefix, counter.column)});
  return columns;
}

std::optional<double> metric_of(const nlohmann::json& result, const Metric& m) {
  const auto& results = result["results"];
  const auto section = results.find(m.section);  // runs from before a metric existed lack it
  if (section == results.end()) return std::nullopt;
  const nlohmann::json* v = &*section;
  for (std::string_view key = m.key; !key.empty() && v->is_object();) {
    const std::size_t dot = std::min(key.find('.'), key.size());
    const auto it = v->find(std::string(key.substr(0, dot)));
    if (it == v->end()) return std::nullopt;
    v = &*it;
    key.remove_prefix(std::min(dot + 1, key.size()));
  }
  return v->is_number() ? std::optional<double>(v->get<double>()) : std::nullopt;
}

std::string config_name(const std::string& protocol, const SweepRun& r) {
  const std::string rate = r.rate.empty() ? "" : fmt::format("/rate:{}", r.rate);
  return fmt::format("{}/{}/clients:{}/msg:{}{}", protocol, r.backend, r.clients, r.message_size, rate);
}

// Rates in a readable order: closed loop, then percentages, then absolute rates, each by value.
std::pair<int, double> rate_order(const std::string& rate) {
  if (rate.empty()) return {0, 0.0};
  if (rate.back() == '%') return {1, std::stod(rate.substr(0, rate.size() - 1))};
  return {2, std::stod(rate)};
}

using ConfigKey = std::tuple<std::string, std::size_t, std::size_t, std::pair<int, double>, std::string>;
std::map<ConfigKey, std::vector<const SweepRun*>> complete_by_config(const std::vector<SweepRun>& runs) {
  std::map<ConfigKey, std::vector<const SweepRun*>> groups;
  for (const auto& r : runs)
    if (r.status == "complete")
      groups[{r.backend, r.clients, r.message_size, rate_order(r.rate), r.rate}].push_back(&r);
  return groups;
}

// The environment's text at `key`; "" when absent or null (a build none of whose runs
// completed has no commit or compiler on record, and json::value() throws on a null).
std::string text_of(const ordered_json& environment, const char* key) {
  const auto it = environment.find(key);
  return it != environment.end() && it->is_string() ? it->get<std::string>() : "";
}

// Rounded down, so a coverage just short of a level is never printed as reaching it.
double coverage_pct(double coverage) { return std::floor(coverage * 1000) / 10; }

}  // namespace

ordered_json describe(const std::vector<double>& values) {
  if (values.empty()) return nullptr;
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  const double sd = values.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  const MedianInterval ci = median_interval(values);
  return {{"median", ci.median},
          {"ci_low", ci.low},
          {"ci_high", ci.high},
          {"ci_coverage", ci.coverage},  // what the interval really achieves: 0.75 at n=3
          {"mean", mean},
          {"cv", mean != 0 ? sd / mean : 0.0},
          {"n", values.size()},
          {"values", values}};
}

ordered_json summarize(const std::vector<SweepRun>& runs, const std::string& protocol) {
  ordered_json configs = ordered_json::array();
  for (const auto& [key, group] : complete_by_config(runs)) {
    const auto& [backend, clients, size, order, rate] = key;
    ordered_json entry{{"name", config_name(protocol, *group.front())},
                       {"backend", backend},
                       {"clients", clients},
                       {"message_size", size},
                       {"rate", rate.empty() ? ordered_json() : ordered_json(rate)}};
    for (const Metric& m : metrics()) {
      std::vector<double> values;
      for (const SweepRun* r : group)
        if (auto v = metric_of(r->result, m)) values.push_back(*v);
      entry[m.name] = describe(values);
    }
    entry["loadgen_saturated_runs"] = std::count_if(group.begin(), group.end(), [](const SweepRun* r) {
      return r->result["results"].value("loadgen_saturated", false);
    });
    configs.push_back(entry);
  }
  // Version 2: the interval is the order-statistic one with its coverage (ci_low, ci_high,
  // ci_coverage), no longer a bootstrap labelled 95% (ci95_low, ci95_high).
  return {{"schema_version", 2}, {"ci_method", kMedianIntervalMethod}, {"configurations", configs}};
}

ordered_json google_benchmark_json(const std::vector<SweepRun>& runs, const std::string& protocol,
                                   const ordered_json& environment) {
  ordered_json benchmarks = ordered_json::array();
  int family = 0;
  for (const auto& [key, group] : complete_by_config(runs)) {
    const std::string name = config_name(protocol, *group.front());
    std::vector<double> real, cpu;
    // real_time: wall ns per request; cpu_time: the server's CPU ns per request (what an I/O
    // model costs), falling back to real_time where the server's CPU was not measured.
    for (const SweepRun* r : group) {
      const auto& res = r->result["results"];
      const double rps = res["throughput_rps"].get<double>();
      const double ns = rps > 0 ? 1e9 / rps : 0;
      const auto srv = res["server_cpu_us_per_request"];
      real.push_back(ns);
      cpu.push_back(srv.is_number() ? srv.get<double>() * 1000 : ns);
      benchmarks.push_back({{"name", name},
                            {"family_index", family},
                            {"per_family_instance_index", 0},
                            {"run_name", name},
                            {"run_type", "iteration"},
                            {"repetitions", group.size()},
                            {"repetition_index", r->repetition},
                            {"threads", 1},
                            {"iterations", res["requests"]},
                            {"real_time", ns},
                            {"cpu_time", cpu.back()},
                            {"time_unit", "ns"},
                            {"rps", rps},
                            {"p50_us", res["latency_us"]["p50"]},
                            {"p99_us", res["latency_us"]["p99"]},
                            {"p999_us", res["latency_us"]["p999"]},
                            {"errors", res["errors"]}});
      for (const Metric& m : metrics())  // user counters, as Google Benchmark reports them: the server's kernel counters
        if (m.kernel_side == server_side().key)
          if (const auto v = metric_of(r->result, m)) benchmarks.back()[m.name] = *v;
    }
    const auto aggregate = [&](const char* which, double rt, double ct, const char* unit) {
      benchmarks.push_back({{"name", fmt::format("{}_{}", name, which)},
                            {"family_index", family},
                            {"per_family_instance_index", 0},
                            {"run_name", name},
                            {"run_type", "aggregate"},
                            {"repetitions", group.size()},
                            {"threads", 1},
                            {"aggregate_name", which},
                            {"aggregate_unit", unit},
                            {"iterations", group.size()},
                            {"real_time", rt},
                            {"cpu_time", ct},
                            {"time_unit", "ns"}});
    };
    const auto r = describe(real), c = describe(cpu);
    aggregate("mean", r["mean"], c["mean"], "time");
    aggregate("median", r["median"], c["median"], "time");
    aggregate("stddev", r["cv"].get<double>() * r["mean"].get<double>(), c["cv"].get<double>() * c["mean"].get<double>(),
              "time");
    aggregate("cv", r["cv"], c["cv"], "percentage");
    ++family;
  }
  ordered_json context{{"date", text_of(environment, "date")},
                       {"host_name", text_of(environment, "hostname")},
                       {"executable", "bench sweep"},
                       {"num_cpus", environment.value("online_cores", 0)},
                       {"mhz_per_cpu", 0},
                       {"cpu_scaling_enabled", false},
                       {"caches", ordered_json::array()},
                       {"library_build_type", "release"},
                       {"muxbench_commit", text_of(environment, "git_commit")},
                       {"kernel", text_of(environment, "kernel")}};
  return {{"context", context}, {"benchmarks", benchmarks}};
}

ordered_json bencher_bmf(const ordered_json& summary) {
  ordered_json bmf = ordered_json::object();
  // BMF's schema allows further keys in a measure; ci_coverage says what the bounds are worth.
  const auto measure = [](const ordered_json& d, double scale) {
    return ordered_json{{"value", d["median"].get<double>() * scale},
                        {"lower_value", d["ci_low"].get<double>() * scale},
                        {"upper_value", d["ci_high"].get<double>() * scale},
                        {"ci_coverage", d["ci_coverage"]}};
  };
  for (const auto& c : summary["configurations"]) {
    ordered_json entry;
    if (!c["throughput_rps"].is_null()) entry["throughput"] = measure(c["throughput_rps"], 1);
    if (!c["p99_us"].is_null()) entry["p99_latency_ns"] = measure(c["p99_us"], 1000);
    if (const std::string syscalls = kernel_metric_name(server_side().key, *find_kernel_counter("syscalls"));
        !c[syscalls].is_null())
      entry[syscalls] = measure(c[syscalls], 1);
    bmf[c["name"].get<std::string>()] = entry;
  }
  return bmf;
}

std::string long_csv(const std::vector<SweepRun>& runs, const std::string& protocol) {
  std::string csv = "run_id,protocol,backend,clients,message_size,rate,repetition,status,metric,value\n";
  for (const auto& r : runs) {
    const std::string rate = r.rate.empty() ? "closed" : r.rate;
    if (r.status != "complete") {
      csv += fmt::format("{},{},{},{},{},{},{},{},,\n", r.id, protocol, r.backend, r.clients, r.message_size, rate,
                         r.repetition, r.status);
      continue;
    }
    for (const Metric& m : metrics())
      if (auto v = metric_of(r.result, m))
        csv += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", r.id, protocol, r.backend, r.clients, r.message_size,
                           rate, r.repetition, r.status, m.name, *v);
  }
  return csv;
}

void print_capacities(const ordered_json& summary) {
  bool any = false;
  for (const auto& c : summary["configurations"]) {
    if (c["capacity_rps"].is_null()) continue;
    if (!any) std::fputs(fmt::format("\n{:<16}{:>8}{:>8}{:>4}{:>16}{:>28}\n", "backend", "clients", "msg", "n",
                                     "capacity req/s", "CI of median, coverage").c_str(), stdout);
    any = true;
    const auto& k = c["capacity_rps"];
    std::fputs(fmt::format("{:<16}{:>8}{:>8}{:>4}{:>16.0f}{:>28}\n", c["backend"].get<std::string>(),
                           c["clients"].get<std::size_t>(), c["message_size"].get<std::size_t>(), k["n"].get<int>(),
                           k["median"].get<double>(),
                           fmt::format("[{:.0f}, {:.0f}] {:.1f}%", k["ci_low"].get<double>(), k["ci_high"].get<double>(),
                                       coverage_pct(k["ci_coverage"].get<double>())))
                   .c_str(),
               stdout);
  }
}

void print_summary(const ordered_json& summary) {
  // The interval's column names no confidence level: each row states the coverage it has.
  // The kernel counters' columns are two wider than their headings, as in the run table.
  const std::vector<SummaryColumn> kernel = server_kernel_columns();
  std::string header = fmt::format("\n{:<9}{:>8}{:>8}{:>9}{:>4}{:>12}{:>28}{:>7}{:>10}{:>12}", "backend", "clients",
                                   "msg", "rate", "n", "req/s", "CI of median, coverage", "cv", "p99 µs", "srv µs/req");
  for (const SummaryColumn& column : kernel) header += fmt::format("{:>{}}", column.heading, column.heading.size() + 2);
  std::fputs((header + "\n").c_str(), stdout);
  for (const auto& c : summary["configurations"]) {
    const auto& t = c["throughput_rps"];
    const auto& p99 = c["p99_us"];
    const auto& srv = c["server_cpu_us_per_request"];
    const auto median = [&](const std::string& metric) {
      return c[metric].is_null() ? std::string("n/a") : fmt::format("{:.3f}", c[metric]["median"].get<double>());
    };
    std::string row = fmt::format("{:<9}{:>8}{:>8}{:>9}{:>4}{:>12.0f}{:>28}{:>6.1f}%{:>10.0f}{:>12}",
                                  c["backend"].get<std::string>(), c["clients"].get<std::size_t>(),
                                  c["message_size"].get<std::size_t>(), c["rate"].is_null() ? "closed" : c["rate"].get<std::string>(),
                                  t["n"].get<int>(),
                                  t["median"].get<double>(),
                                  fmt::format("[{:.0f}, {:.0f}] {:.1f}%", t["ci_low"].get<double>(), t["ci_high"].get<double>(),
                                              coverage_pct(t["ci_coverage"].get<double>())),
                                  t["cv"].get<double>() * 100, p99["median"].get<double>(),
                                  srv.is_null() ? std::string("n/a") : fmt::format("{:.2f}", srv["median"].get<double>()));
    for (const SummaryColumn& column : kernel) row += fmt::format("{:>{}}", median(column.metric), column.heading.size() + 2);
    std::fputs((row + "\n").c_str(), stdout);
  }
}

}  // namespace mux
