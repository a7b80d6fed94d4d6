#pragma once
// The latency of short and of long requests, when the server's work is drawn per request
// (--work-us=bimodal:..., core/request_work.hpp): "short" requests drew work at or below the
// distribution's median, "long" ones above it. The load generator knows each request's class
// from the bytes it sent, so this needs nothing from the server.
#include <string>

#include <nlohmann/json.hpp>

#include "harness/results/report.hpp"

namespace mux {

// Sets results.latency_by_work_class: {"split_us", "work_us_spec", "short": {p50... in µs,
// "requests"}, "long": ...}; null when the work is not drawn, with
// results.latency_by_work_class_unknown_reason saying why.
void add_work_class_json(const RunOptions& options, const RunRecord& record, nlohmann::ordered_json& results);
// One table note line (short p99 against long p99), or empty.
std::string work_class_note(const RunOptions& options, const RunRecord& record);

}  // namespace mux
