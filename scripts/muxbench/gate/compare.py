"""The regression gate: two sweeps, configuration by configuration, and the verdict.

For every configuration both sweeps completed, throughput, p99 and the low-noise signals are
compared (muxbench.gate.statistics, muxbench.gate.signals), each test at the family-wise
--alpha split over all of them; the whole grid of paired runs too (muxbench.gate.grid); and a
current sweep that lost configurations, runs or requests fails whatever its numbers.
scripts/compare.py parses the options (muxbench.gate.options) and calls compare_sweeps.
"""

import sys
from dataclasses import dataclass, field

from muxbench import facts
from muxbench import results as mr
from muxbench import stats
from muxbench.gate import grid, output
from muxbench.gate.machine import check_same_machine
from muxbench.gate.signals import compare_signals, print_signal_table, tests_per_configuration
from muxbench.gate.statistics import Change, compare_metric


def compare_sweeps(args):
    """Loads both sweeps, compares them, prints the table and verdict; returns the exit status."""
    try:
        base, current = mr.load_sweep(args.base_dir), mr.load_sweep(args.current_dir)
        machine_warning = check_same_machine(base, current, args.allow_different_machine)
        pairs = pair_configurations(base, current)
    except mr.InputError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    problems = completeness_problems(base, current)
    results = compare_configurations(pairs, args)
    grid_changes = grid.compare_grid(base, current, args)
    if machine_warning:
        print(machine_warning)
    output.print_header(base, current, args)
    output.print_table(results)
    print_signal_table(results)
    grid.print_grid(grid_changes)
    return output.print_verdict(results, problems + grid.regression_lines(grid_changes), args)


def pair_configurations(base, current):
    """{key: (base runs, current runs)} for configurations both sweeps completed.

    Raises InputError when the sweeps plan no configuration in common (they measure
    different grids), when a side planned fewer than 2 repetitions of a configuration, or
    when the baseline completed fewer than 2: a comparison that cannot test significance
    must not pass silently.  A configuration CURRENT lost runs of is left out here:
    completeness_problems reports it as a regression.
    """
    b, c = base.groups(), current.groups()
    planned_current = planned_repetitions(current)
    if not any(k in planned_current for k in b):
        raise mr.InputError(f"no configuration (backend, clients, message size) completed in "
                            f"{base.path} ({len(b)} configurations) is planned in {current.path} "
                            f"({len(planned_current)}); run both sweeps with the same --backends/"
                            f"--clients/--message-sizes")
    pairs = {}
    for key in (k for k in b if k in c):
        if len(b[key]) < 2:
            raise too_few_repetitions(key, "BASE", len(b[key]))
        if len(c[key]) < 2:
            if planned_current[key] < 2:
                raise too_few_repetitions(key, "CURRENT", len(c[key]))
            continue  # runs were lost, not planned away: a completeness problem
        pairs[key] = (b[key], c[key])
    return pairs


def too_few_repetitions(key, side, n):
    return mr.InputError(
        f"significance cannot be tested: {facts.config_id(key)} has {n} complete repetition in "
        f"{side} (need at least 2 per side, 4+ for p < 0.05); rerun that sweep with more "
        f"repetitions, e.g. `bench sweep --repetitions=5`")


def planned_repetitions(sweep):
    """{key: number of runs the sweep planned for that configuration}, complete or not."""
    planned = {}
    for run in sweep.runs:
        planned[run.key] = planned.get(run.key, 0) + 1
    return planned


def completeness_problems(base, current):
    """Reasons CURRENT fails whatever its numbers: lost configurations, runs, requests.

    Each reason is one line naming the configuration or run.  Skipped runs of a
    configuration the baseline did not complete either (e.g. io_uring unavailable on
    both) are not held against CURRENT.
    """
    completed_in_base, completed_in_current = set(base.groups()), set(current.groups())
    problems = []
    for key in sorted(completed_in_base - completed_in_current, key=mr.config_sort_key):
        runs = [r for r in current.runs if r.key == key]
        why = "; ".join(f"{r.id} {r.why_not_ok()}" for r in runs) or "not in its plan"
        problems.append(f"{facts.config_id(key)} completed in BASE but has no complete run in "
                        f"CURRENT: {why}")
    for run in current.runs:
        if run.key in completed_in_base - completed_in_current:
            continue  # already named with its configuration
        if not run.ok and (run.status != "skipped" or run.key in completed_in_base):
            problems.append(f"{run.id} did not complete in CURRENT: {run.why_not_ok()}")
        elif run.ok and mr.failed_requests(run):
            problems.append(f"{run.id} in CURRENT: {mr.failed_requests(run)}")
    return problems


# ---------------------------------------------------------------------------- statistics


@dataclass
class Comparison:
    key: tuple
    n_base: int
    n_current: int
    exact_rule: bool         # False: Mann-Whitney cannot reach alpha, all-worse rule used
    throughput: Change
    p99: Change
    signals: dict = field(default_factory=dict)   # low-noise signal name -> Change

    @property
    def regression(self):
        return (self.throughput.regression or self.p99.regression
                or any(ch.regression for ch in self.signals.values()))


def compare_configurations(pairs, args):
    """[Comparison] of every configuration, each test at --alpha split over all of them.

    --alpha is family-wise: a comparison of 10 configurations x 5 signals at 0.05 each
    raised a false alarm in about one A/A run in four on the 2-core VM, so each test gets
    alpha / (configurations x signals) (Bonferroni). With 5 vs 5 repetitions no rank test
    reaches that, and the all-worse rule decides; the whole grid (muxbench/gate/grid.py) is what
    sees a small shift.
    """
    args.test_alpha = args.alpha / max(1, len(pairs) * tests_per_configuration(pairs))
    return [compare_configuration(key, b, c, args, args.test_alpha) for key, (b, c) in pairs.items()]


def compare_configuration(key, base_runs, current_runs, args, alpha):
    """One configuration's metrics and signals, each test at `alpha` (compare_configurations'
    share of the family-wise --alpha)."""
    n1, n2 = len(base_runs), len(current_runs)
    use_test = stats.min_mannwhitney_p(n1, n2) < alpha
    tput = compare_metric(mr.values(base_runs, "throughput"), mr.values(current_runs, "throughput"),
                          -args.max_throughput_drop, alpha, use_test)
    p99 = compare_metric(mr.values(base_runs, "p99"), mr.values(current_runs, "p99"),
                         args.max_p99_rise, alpha, use_test)
    return Comparison(key, n1, n2, use_test, tput, p99,
                      compare_signals(base_runs, current_runs, args, alpha, use_test))
