#pragma once
#include <nlohmann/json.hpp>

namespace mux {
// Where a result was measured: kernel, CPU, cores, compiler, build, commit, date.
nlohmann::ordered_json describe_environment();
}  // namespace mux
