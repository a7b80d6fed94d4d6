// `bench --list-counters [--json]`: the kernel counters (harness/kernel/counter_table.hpp) and the
// figures the results are judged by, as people and scripts read them. The Python scripts read
// the counters' fields and these facts from the JSON form (scripts/muxbench/facts.py).
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/median_interval.hpp"
#include "harness/cli/commands.hpp"
#include "harness/kernel/counter_table.hpp"
#include "harness/results/report.hpp"
#include "harness/results/verdict.hpp"
#include "harness/spec/slo.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;

ordered_json counters_json() {
  ordered_json counters = ordered_json::array();
  for (const KernelCounterRow& c : kernel_counter_table())
    counters.push_back({{"name", c.name},
                        {"source", c.source},
                        {"unit", c.unit},
                        {"per_request_field", c.per_request},
                        {"table_column", c.in_table() ? ordered_json(c.column) : ordered_json()},
                        {"in_table", c.in_table()}});
  return counters;
}

// What the scripts would otherwise write again: each is defined where its name says.
ordered_json facts_json() {
  ordered_json percentiles = ordered_json::object();
  for (const LatencyPercentile& p : latency_percentiles()) percentiles[p.key] = p.percentile;
  return {{"saturated_fraction", kSaturatedFraction},
          {"achieved_rate_tolerance", kAchievedRateTolerance},
          {"median_interval_confidence", kMedianIntervalConfidence},
          {"median_interval_method", kMedianIntervalMethod},
          {"latency_percentiles", percentiles}};
}

std::string table() {
  std::string out = fmt::format("{:<29}  {:<40}  {:<7}  {}\n", "counter", "per-request field", "column", "one count is");
  for (const KernelCounterRow& c : kernel_counter_table())
    out += fmt::format("{:<29}  {:<40}  {:<7}  {}\n{:<29}  counted by {}\n", c.name, c.per_request,
                       c.in_table() ? c.column : "-", c.unit, "", c.source);
  out += "\nfacts the results are judged by (the JSON form's \"facts\"):\n";
  const ordered_json facts = facts_json();
  for (const auto& [name, value] : facts.items()) out += fmt::format("  {}: {}\n", name, value.dump());
  return out;
}

}  // namespace

int list_counters_command(int argc, char** argv) {
  return print_listing(argc, argv, "--list-counters", [](bool json) {
    return json ? ordered_json{{"counters", counters_json()}, {"facts", facts_json()}}.dump(2) + "\n" : table();
  });
}

}  // namespace mux
