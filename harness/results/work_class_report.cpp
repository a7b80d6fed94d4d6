#include "harness/results/work_class_report.hpp"

#include <fmt/format.h>

namespace mux {
namespace {

// The classes' histograms when the work was drawn and the load generator split the latency.
const std::vector<LatencyHistogram>* classes(const RunRecord& r) {
  return r.load.latency_by_work_class.size() == 2 ? &r.load.latency_by_work_class : nullptr;
}

}  // namespace

void add_work_class_json(const RunOptions& o, const RunRecord& r, nlohmann::ordered_json& results) {
  const auto* by_class = classes(r);
  if (by_class == nullptr || o.load.work_us.is_fixed()) {
    results["latency_by_work_class"] = nullptr;
    results["latency_by_work_class_unknown_reason"] =
        !o.target.empty() ? "bench load: the server's work per request is not known; give --work-us as the server has it"
                          : "the server's work is the same for every request (--work-us=N): no classes";
    return;
  }
  const auto one = [](const LatencyHistogram& h) {
    nlohmann::ordered_json j = latency_summary_json(h);
    j["requests"] = h.count();
    return j;
  };
  results["latency_by_work_class"] = {{"split_us", o.load.work_us.median()},
                                       {"work_us_spec", o.load.work_us.to_string()},
                                       {"short", one((*by_class)[0])},
                                       {"long", one((*by_class)[1])}};
}

std::string work_class_note(const RunOptions& o, const RunRecord& r) {
  const auto* by_class = classes(r);
  if (by_class == nullptr || o.load.work_us.is_fixed() || r.load.requests == 0) return {};
  const auto part = [&](const LatencyHistogram& h) {
    return fmt::format("{} requests ({:.1f}%), p99 {:.1f} µs", h.count(),
                       100.0 * static_cast<double>(h.count()) / static_cast<double>(r.load.requests),
                       static_cast<double>(h.value_at_percentile(99)) / 1000.0);
  };
  return fmt::format("  {}: work {} µs: short (work <= {} µs) {}; long {}\n", r.backend, o.load.work_us.to_string(),
                     o.load.work_us.median(), part((*by_class)[0]), part((*by_class)[1]));
}

}  // namespace mux
