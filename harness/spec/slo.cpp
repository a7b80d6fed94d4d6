#include "harness/spec/slo.hpp"

#include <cmath>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "core/usage_error.hpp"

namespace mux {
namespace {

[[noreturn]] void bad_term(const std::string& term, const std::string& why) {
  throw UsageError(fmt::format("--slo: '{}' {}; write PERCENTILE<=LATENCY, e.g. p99<=1ms or p99.9<=500us "
                               "(units ns, us, ms, s; several joined by ',')",
                               term, why));
}

double parse_number(std::string_view text, const std::string& term) {
  if (text.empty()) bad_term(term, "has no number");
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) bad_term(term, fmt::format("has '{}', not a number", s));
  return v;
}

std::string format_ns(std::uint64_t ns) {
  if (ns >= 1'000'000'000 && ns % 1'000'000'000 == 0) return fmt::format("{}s", ns / 1'000'000'000);
  if (ns >= 1'000'000 && ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns >= 1'000 && ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}

SloTerm parse_term(const std::string& term) {
  const auto le = term.find("<=");
  if (term.size() < 2 || term[0] != 'p' || le == std::string::npos) bad_term(term, "is not of the form pP<=LATENCY");
  const double percentile = parse_number(std::string_view(term).substr(1, le - 1), term);
  if (!(percentile > 0 && percentile <= 100)) bad_term(term, "needs a percentile above 0 and at most 100");
  std::string_view latency = std::string_view(term).substr(le + 2);
  static constexpr std::pair<std::string_view, double> kUnits[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  for (const auto& [unit, ns_per_unit] : kUnits) {
    // In this order: "ns", "us" and "ms" end in 's' too.
    if (latency.size() > unit.size() && latency.substr(latency.size() - unit.size()) == unit) {
      const double value = parse_number(latency.substr(0, latency.size() - unit.size()), term);
      const double ns = value * ns_per_unit;
      if (!(ns >= 1) || ns > static_cast<double>(LatencyHistogram::kHighestTrackable))
        bad_term(term, "needs a latency between 1ns and 4000s");
      return {percentile, static_cast<std::uint64_t>(std::llround(ns)), term};
    }
  }
  bad_term(term, "has a latency without a unit");
}

}  // namespace

std::vector<SloTerm> parse_slo(const std::string& text) {
  std::vector<SloTerm> terms;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (term.empty()) bad_term(text, "has an empty term");
    terms.push_back(parse_term(term));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return terms;
}

std::string slo_text(const std::vector<SloTerm>& slo) {
  std::string out;
  for (const SloTerm& t : slo) out += fmt::format("{}p{}<={}", out.empty() ? "" : ",", t.percentile, format_ns(t.limit_ns));
  return out;
}

std::string slo_failures(const std::vector<SloTerm>& slo, const LatencyHistogram& corrected, const ProbeFigures& run) {
  std::string why;
  auto add = [&why](const std::string& reason) { why += (why.empty() ? "" : "; ") + reason; };
  if (!run.complete) add("the run did not complete");
  if (run.errors > 0) add(fmt::format("{} errors", run.errors));
  if (run.target_rps > 0 && std::abs(run.achieved_rps - run.target_rps) > kAchievedRateTolerance * run.target_rps)
    add(fmt::format("achieved {:.1f}% of the target rate", 100.0 * run.achieved_rps / run.target_rps));
  if (corrected.count() == 0) {
    add("no request completed");
  } else {
    for (const SloTerm& t : slo) {
      const std::uint64_t v = corrected.value_at_percentile(t.percentile);
      if (v > t.limit_ns)
        add(fmt::format("p{} {:.1f} us > {:.1f} us", t.percentile, static_cast<double>(v) / 1e3,
                        static_cast<double>(t.limit_ns) / 1e3));
    }
  }
  return why;
}

}  // namespace mux
