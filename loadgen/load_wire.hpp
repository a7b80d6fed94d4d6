#pragma once
// The load's config and result as JSON, to send them between processes: `bench` hands each
// load process (`bench load-shard`) its LoadConfig, and gets its LoadResult back. Histograms
// travel counter by counter, never as percentiles, so the receiver merges them exactly
// (LoadResult::merge), as if one process had recorded every request.
#include <nlohmann/json.hpp>

#include "loadgen/load_config.hpp"

namespace mux {

nlohmann::json histogram_to_json(const LatencyHistogram& histogram);
LatencyHistogram histogram_from_json(const nlohmann::json& json);  // throws on a malformed one

nlohmann::json config_to_json(const LoadConfig& config);
LoadConfig config_from_json(const nlohmann::json& json);

nlohmann::json result_to_json(const LoadResult& result);
LoadResult result_from_json(const nlohmann::json& json);

}  // namespace mux
