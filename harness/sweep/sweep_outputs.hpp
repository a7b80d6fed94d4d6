#pragma once
// What a sweep writes besides its runs: statistics per configuration, and the same numbers in
// the formats CI tools read (Google Benchmark JSON, Bencher BMF, long-format CSV).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mux {

// One planned run of a sweep and, once done, its result document.
struct SweepRun {
  std::string id;  // "epoll-c1000-m128-r0"
  std::string backend;
  std::size_t clients;
  std::size_t message_size;
  int repetition;
  int order;              // position in the shuffled plan
  std::string status;     // pending, complete, failed, skipped
  std::string error;      // why it failed or was skipped
  nlohmann::json result;  // the run's JSON document once complete
  std::string rate;       // --rates: "" closed loop; "20000" req/s; "50%" of the closed-loop capacity
};

// Median and its order-statistic confidence interval with the interval's real coverage
// (ci_low, ci_high, ci_coverage; see core/median_interval.hpp), mean, coefficient of variation
// (sample stddev / mean), n, and the values themselves. null for no values.
nlohmann::ordered_json describe(const std::vector<double>& values);

nlohmann::ordered_json summarize(const std::vector<SweepRun>& runs, const std::string& protocol);
nlohmann::ordered_json google_benchmark_json(const std::vector<SweepRun>& runs, const std::string& protocol,
                                             const nlohmann::ordered_json& environment);
nlohmann::ordered_json bencher_bmf(const nlohmann::ordered_json& summary);
std::string long_csv(const std::vector<SweepRun>& runs, const std::string& protocol);
// The summary's table, and its capacities (--capacity) when it has them, on stdout.
void print_summary(const nlohmann::ordered_json& summary);
void print_capacities(const nlohmann::ordered_json& summary);

}  // namespace mux
