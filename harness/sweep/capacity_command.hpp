#pragma once
// `bench capacity`'s flags: bench's own plus the SLO and the probe budget. `bench sweep
// --capacity` checks the flags it passes through with the same parser.
#include <optional>
#include <string>
#include <vector>

#include "harness/spec/options.hpp"
#include "harness/spec/slo.hpp"

namespace mux {

int capacity_command(int argc, char** argv);  // bench capacity --slo=... ...

// Probes per backend, the closed-loop one included (the budget).
inline constexpr std::size_t kDefaultMaxProbes = 12;

struct CapacityFlags {
  std::string slo_text;
  std::vector<SloTerm> slo;
  std::size_t max_probes = kDefaultMaxProbes;
};

// argv as for `bench capacity` without the subcommand word (argv[0] is the program). On bad
// input prints one line and returns nullopt with exit_code 2.
std::optional<RunOptions> parse_capacity_options(int argc, char** argv, int& exit_code, CapacityFlags& flags);

}  // namespace mux
