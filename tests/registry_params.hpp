#pragma once
// Tests that run every backend take the names from the registry (backends/registry.cpp), so a
// new entry or variant is tested with no other edit.
//
// MUXBENCH_TEST_BACKENDS=base (set by scripts/test's sanitizer stages) keeps only the base
// backends: the variants share almost all their code with their base, and the sanitized
// builds run ~10x slower, so there the full matrix would not fit in the time budget.
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"

namespace mux::test {

inline bool only_base_backends() {
  const char* value = std::getenv("MUXBENCH_TEST_BACKENDS");
  return value != nullptr && std::string_view(value) == "base";
}

// Every registry entry, in its order: the parameters of the backend tests. The list is the
// same whatever the environment (CTest discovers the tests at build time, when it is not set).
inline std::vector<std::string> every_backend() {
  std::vector<std::string> names;
  for (const auto& entry : backend_registry()) names.emplace_back(entry.name);
  return names;
}

// True for a variant when MUXBENCH_TEST_BACKENDS=base: its test is skipped, saying why.
inline bool sliced_out(std::string_view name) {
  const BackendEntry* entry = find_backend(name);
  return only_base_backends() && entry != nullptr && entry->is_variant();
}
#define MUX_SKIP_IF_SLICED_OUT(name)  \
  if (::mux::test::sliced_out(name)) \
  GTEST_SKIP() << "MUXBENCH_TEST_BACKENDS=base: " << (name) << " is a variant, tested in the normal stage only"

// every_backend() less the variants sliced out: for tests that loop over the backends.
inline std::vector<std::string> backends_in_slice() {
  std::vector<std::string> names;
  for (const std::string& name : every_backend())
    if (!sliced_out(name)) names.push_back(name);
  return names;
}

// Every entry of one I/O model.
inline std::vector<std::string> backends_of(IoModel model) {
  std::vector<std::string> names;
  for (const auto& entry : backend_registry())
    if (entry.capabilities.model == model) names.emplace_back(entry.name);
  return names;
}

// One backend of each model: a short list for tests whose subject is not the backend itself.
inline std::vector<std::string> one_backend_per_model() {
  std::vector<std::string> names;
  for (const IoModel model : {IoModel::blocking, IoModel::readiness, IoModel::completion})
    for (const auto& entry : backend_registry())
      if (entry.capabilities.model == model && !entry.is_variant()) {
        names.emplace_back(entry.name);
        break;
      }
  return names;
}

// A GoogleTest parameter name: letters, digits and underscores ("io_uring+nodefer" -> "io_uring_nodefer").
inline std::string param_name(std::string name) {
  for (char& ch : name)
    if (ch == '+') ch = '_';
  return name;
}

}  // namespace mux::test
