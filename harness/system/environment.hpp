#pragma once
#include <nlohmann/json.hpp>

namespace mux {
// Where a result was measured: kernel, CPU, cores, compiler, build, commit, date, and the
// machine_fingerprint scripts/compare.py insists on before comparing two results.
nlohmann::ordered_json describe_environment();
}  // namespace mux
