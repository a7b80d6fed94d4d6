#pragma once
// JSON from field lists (loadgen/field_list.hpp), to send structs between processes: `bench`
// hands each load process (`bench load-shard`) and MPI rank its LoadConfig, and gets its
// LoadResult back. Histograms travel counter by counter, never as percentiles, so the receiver
// merges them exactly (LoadResult::merge), as if one process had recorded every request.
// Each type below has its to_json/from_json once; a listed struct's come from its list (keys:
// the rows' names), so `nlohmann::json(config)` and `json.get<LoadResult>()` just work.
#include <optional>

#include <nlohmann/json.hpp>

#include "loadgen/field_list.hpp"
#include "loadgen/load_config.hpp"

// std::optional: null when empty.
template <class T>
struct nlohmann::adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& value) { j = value ? json(*value) : json(); }
  static void from_json(const json& j, std::optional<T>& value) {
    value = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
  }
};

namespace mux {

void to_json(nlohmann::json& j, const LatencyHistogram& histogram);  // counter by counter
void from_json(const nlohmann::json& j, LatencyHistogram& histogram);  // throws on a malformed one
void to_json(nlohmann::json& j, const SocketAddress& address);         // "127.0.0.1:8080", "unix:PATH"
void from_json(const nlohmann::json& j, SocketAddress& address);
void to_json(nlohmann::json& j, const Distribution& distribution);     // "128", "uniform:64-4096"
void from_json(const nlohmann::json& j, Distribution& distribution);

// An enum by its name (names_of).
template <NamedEnum E>
void to_json(nlohmann::json& j, E value) {
  j = name_of(value);
}
template <NamedEnum E>
void from_json(const nlohmann::json& j, E& value) {
  const auto named = value_named<E>(j.get<std::string>());
  if (!named) throw std::invalid_argument("no such name: " + j.dump());
  value = *named;
}

// A listed struct: an object with a key per row, every key required.
template <Listed T>
void to_json(nlohmann::json& j, const T& value) {
  j = nlohmann::json::object();
  for_each_field<T>([&](const auto& row) { j[row.name] = value.*row.member; });
}
template <Listed T>
void from_json(const nlohmann::json& j, T& value) {
  for_each_field<T>([&](const auto& row) { j.at(row.name).get_to(value.*row.member); });
}

// A spec's fields as the result JSON's config records them: each row with a `result` name,
// under that name, its value as on the wire.
template <Listed Spec>
nlohmann::json result_echo(const Spec& spec) {
  nlohmann::json echo = nlohmann::json::object();
  for_each_field<Spec>([&](const auto& row) {
    if (row.result) echo[row.result] = spec.*row.member;
  });
  return echo;
}

}  // namespace mux
