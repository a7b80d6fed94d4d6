#pragma once
// A struct's fields, listed once (a static `fields()` returning a tuple of rows), from which
// everything that walks the fields derives: the wire JSON (loadgen/load_wire.hpp); for a spec,
// its command-line flags (harness/spec/flag_binding.hpp) and its echo in the result JSON; for a
// measured record, how two of it merge. A field added to the struct is added to its list, once.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace mux {

template <class T>
concept Listed = requires { T::fields(); };

// Calls `visit(row)` for each row of T's field list, in the list's order.
template <Listed T, class Visit>
void for_each_field(Visit&& visit) {
  std::apply([&](const auto&... row) { (visit(row), ...); }, T::fields());
}

// An enum with names (in the wire JSON, on the command line, in the result JSON): found by ADL,
// `names_of(E)` returns its values with their names, as std::array<std::pair<E, const char*>, N>.
template <class E>
concept NamedEnum = std::is_enum_v<E> && requires(E e) { names_of(e); };

template <NamedEnum E>
const char* name_of(E value) {
  for (const auto& [v, name] : names_of(value))
    if (v == value) return name;
  return "?";
}

template <NamedEnum E>
std::optional<E> value_named(std::string_view name) {
  for (const auto& [v, n] : names_of(E{}))
    if (name == n) return v;
  return std::nullopt;
}

template <NamedEnum E>
std::vector<std::string> enum_names() {
  std::vector<std::string> all;
  for (const auto& [v, name] : names_of(E{})) all.emplace_back(name);
  return all;
}

// The values a number or a distribution may take on the command line.
struct Bounds {
  double min, max;
};

// The command-line flag that sets a spec's field, and how it is checked (by its type: a whole
// number within `bounds`, or any in decimal digits without them; a floating-point number within
// them, finite; a distribution within them; an enum's names; text among `choices`, or any UTF-8).
struct Flag {
  const char* name = nullptr;  // "--clients"; nullptr: no flag, the run sets the field
  std::string help = {};
  std::optional<Bounds> bounds = std::nullopt;
  bool whole = false;                     // a distribution: of whole numbers only
  std::vector<std::string> choices = {};  // text: the values allowed; empty: any
  bool show_default = true;          // --help shows the default value
};

// A field of a spec (what a run is asked to do).
template <class Spec, class T>
struct SpecField {
  const char* name;  // its key in the wire JSON: the member's name
  T Spec::*member;
  Flag flag = {};
  const char* result = nullptr;  // its key in the result JSON's config; nullptr: not recorded as it is
};

// How a measured record's field takes in another record's (merge_fields).
enum class Merge {
  add,       // numbers summed, histograms merged, listed structs field by field
  append,    // one list after the other (one entry per thread)
  by_index,  // entry i added to entry i, as long as the longer list
};

// A field of a measured record.
template <class Record, class T>
struct RecordField {
  const char* name;  // its key in the wire JSON: the member's name
  T Record::*member;
  Merge merge = Merge::add;
};

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
void merge_value(T& into, const T& from, Merge how);

// `from` added into `into`, field by field, each as its row says.
template <Listed T>
void merge_fields(T& into, const T& from) {
  for_each_field<T>([&](const auto& row) { merge_value(into.*row.member, from.*row.member, row.merge); });
}

template <class T>
void merge_value(T& into, const T& from, Merge how) {
  if constexpr (std::is_arithmetic_v<T>) {
    into += from;
  } else if constexpr (Listed<T>) {
    merge_fields(into, from);
  } else if constexpr (is_vector<T>::value) {
    if (how == Merge::append) {
      into.insert(into.end(), from.begin(), from.end());
      return;
    }
    if (into.size() < from.size()) into.resize(from.size());
    for (std::size_t i = 0; i < from.size(); ++i) merge_value(into[i], from[i], Merge::add);
  } else {
    into.merge(from);  // a histogram
  }
}

}  // namespace mux
