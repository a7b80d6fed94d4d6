#pragma once
// What each run of `bench sweep` is: the argv of its child `bench` (defined once, here), and
// the check of every run's argv by bench's own parser and preflight before the sweep creates
// anything, so a flag bench would refuse stops the sweep at once, named by the sweep's flag.
#include <map>
#include <string>
#include <vector>

#include "harness/sweep/sweep_plan.hpp"

namespace mux {

// The argv of run `r` of build `t` at open-loop `rate` (0: the closed loop). Without
// `outputs` it lacks the per-run output files (--json, --hgrm): the check parses it before
// their directory exists.
std::vector<std::string> run_args(const SweepOptions& o, const SweepTarget& t, const SweepRun& r, double rate,
                                  bool outputs = true);

// Refuses pass-through flags the sweep sets for every run itself (--backend, --json...) and
// pass-through text that is not UTF-8 (it is recorded in sweep.json). Throws UsageError.
void check_passthrough(const SweepOptions& o);

// Parses the argv of every run of every build as its `bench` will (nothing starts, nothing is
// written) and checks the machine can run it (preflight). Throws UsageError naming the sweep
// flag at fault for the first run bench would refuse, and when no run can run here. Returns the
// runs preflight leaves out, with the reason each is recorded as skipped.
std::map<const SweepRun*, std::string> check_runs(const SweepOptions& o, const std::vector<SweepTarget>& targets);

}  // namespace mux
