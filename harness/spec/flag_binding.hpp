#pragma once
// A spec's flags from its field list (loadgen/field_list.hpp): each row with a flag becomes a
// CLI11 option bound to its field, checked as its type and bounds say, in the list's order.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/distribution.hpp"
#include "harness/spec/cli_checks.hpp"
#include "loadgen/field_list.hpp"

namespace mux {

// The types a flag can set (the others are set by the run).
template <class T>
concept FlagType = std::is_same_v<T, Distribution> || NamedEnum<T> || std::is_same_v<T, std::string> ||
                   std::is_same_v<T, std::vector<std::string>> ||  // repeatable text
                   (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);

template <class T>
void add_field_flag(CLI::App& app, T& value, const Flag& flag) {
  if (flag.name == nullptr) return;  // set by the run, not on the command line
  if constexpr (!FlagType<T>) {
    throw std::logic_error(std::string(flag.name) + ": no flag sets a field of this type; add the type here");
  } else if constexpr (std::is_same_v<T, Distribution>) {
    CLI::Option* option = app.add_option_function<std::string>(
        flag.name, [&value](const std::string& text) { value = Distribution::parse(text); }, flag.help);
    option->check(DistributionWithin(flag.bounds.value().min, flag.bounds.value().max, flag.whole));
    if (flag.show_default) option->default_str(value.to_string());
  } else if constexpr (NamedEnum<T>) {
    CLI::Option* option = app.add_option_function<std::string>(
        flag.name, [&value](const std::string& name) { value = value_named<T>(name).value(); }, flag.help);
    option->check(CLI::IsMember(enum_names<T>()));  // so value_named() finds every name let through
    if (flag.show_default) option->default_str(name_of(value));
  } else {
    CLI::Option* option = app.add_option(flag.name, value, flag.help);
    if constexpr (std::is_floating_point_v<T>) {
      option->check(FiniteRange(flag.bounds.value().min, flag.bounds.value().max));
    } else if constexpr (std::is_integral_v<T>) {
      if (flag.bounds)
        option->check(CLI::Range(static_cast<std::int64_t>(flag.bounds->min), static_cast<std::int64_t>(flag.bounds->max)));
      else
        option->check(WholeNumber());
    } else {
      option->check(flag.choices.empty() ? Utf8Text() : CLI::IsMember(flag.choices));
    }
    if (flag.show_default) option->capture_default_str();
  }
}

// Every flag of `spec`'s field list, bound to its field.
template <Listed Spec>
void add_spec_flags(CLI::App& app, Spec& spec) {
  for_each_field<Spec>([&](const auto& row) { add_field_flag(app, spec.*row.member, row.flag); });
}

}  // namespace mux
