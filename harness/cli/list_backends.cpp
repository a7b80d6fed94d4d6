// `bench --list-backends [--json]`: the registry, as people and scripts read it. The Python
// scripts take their backend order from the JSON form, so a new entry needs no edit there.
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "backends/backend.hpp"
#include "harness/cli/commands.hpp"
#include "harness/spec/options.hpp"

namespace mux {
namespace {

// The --accept designs of a multi-loop backend, by name.
nlohmann::ordered_json accept_modes(const BackendCapabilities& caps) {
  nlohmann::ordered_json modes = nlohmann::ordered_json::array();
  for (const AcceptMode m : {AcceptMode::reuseport, AcceptMode::shared, AcceptMode::handoff})
    if (caps.accept_modes & accept_mode_bit(m)) modes.push_back(accept_mode_name(m));
  return modes;
}

nlohmann::ordered_json entry_json(const BackendEntry& e, const std::string& reason) {
  const auto& caps = e.capabilities;
  return {{"name", e.name},
          {"base", e.base},
          {"feature", e.is_variant() ? nlohmann::ordered_json(e.feature()) : nlohmann::ordered_json(nullptr)},
          {"description", e.description},
          {"model", io_model_name(caps.model)},
          {"edge_triggered", caps.edge_triggered},
          {"multi_loop", caps.multi_loop},
          {"accept_modes", accept_modes(caps)},
          {"needs_shared_listener", caps.needs_shared_listener},
          {"opt_in", caps.opt_in},
          {"kernel_features", caps.kernel_features},
          {"available", reason.empty()},
          {"unavailable_reason", reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(reason)}};
}

std::string table(const std::vector<std::string>& reasons) {
  const auto registry = backend_registry();
  std::size_t width = 7;
  for (const auto& e : registry) width = std::max(width, e.name.size());
  std::string out = fmt::format("{:<{}}  {:<12}  {:<9}  {}\n", "backend", width, "model", "available", "description");
  std::map<std::string_view, std::vector<std::string_view>> features;  // base -> its variants' features
  for (std::size_t i = 0; i < registry.size(); ++i) {
    const auto& e = registry[i];
    const std::string model = fmt::format("{}{}", io_model_name(e.capabilities.model),
                                          e.capabilities.edge_triggered ? "/ET" : "");
    out += fmt::format("{:<{}}  {:<12}  {:<9}  {}\n", e.name, width, model, reasons[i].empty() ? "yes" : "no",
                       e.description);
    if (e.is_variant()) features[e.base].push_back(e.feature());
  }
  for (const auto& e : registry) {
    if (e.is_variant() || !features.contains(e.name)) continue;
    out += fmt::format("features of {}: +{}\n", e.name, fmt::join(features[e.name], ", +"));
  }
  std::vector<std::string_view> opt_in;
  for (const auto& e : registry)
    if (e.capabilities.opt_in) opt_in.push_back(e.name);
  if (!opt_in.empty()) out += fmt::format("not in `all` (opt-in, name it to run it): {}\n", fmt::join(opt_in, ", "));
  for (std::size_t i = 0; i < registry.size(); ++i)
    if (!reasons[i].empty()) out += fmt::format("{}: {}\n", registry[i].name, reasons[i]);
  return out;
}

}  // namespace

int list_backends_command(int argc, char** argv) {
  return print_listing(argc, argv, "--list-backends", [](bool json) {
    std::vector<std::string> reasons;
    for (const auto& e : backend_registry()) reasons.push_back(e.probe());
    if (!json) return table(reasons);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < reasons.size(); ++i) list.push_back(entry_json(backend_registry()[i], reasons[i]));
    return list.dump(2) + "\n";
  });
}

}  // namespace mux
