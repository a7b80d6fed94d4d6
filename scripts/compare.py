#!/usr/bin/python3
"""Compares two muxbench sweeps and fails when the current one regressed.

    scripts/compare.py BASE_DIR CURRENT_DIR [--max-throughput-drop=PCT]
                       [--max-p99-rise=PCT] [--alpha=0.05] [--max-server-cpu-rise=PCT]
                       [--allow-different-machine]

For every configuration (backend, clients, message size) present in both sweeps, the
medians of throughput and p99 latency over the repetitions are compared, and a
two-sided Mann-Whitney U test asks whether the repetitions differ at all.  A current
sweep that lost a baseline configuration, left runs incomplete or saw failed requests
fails too: a gate must not pass because the thing it measures broke.
Low-noise signals where both sweeps have them (server CPU per request, the server's
syscalls and context switches per request) are compared the same way.  The two sweeps
must come from the same machine (their machine fingerprints match), else nothing is
compared.
"""

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from muxbench import format as fmt  # noqa: E402
from muxbench import results as mr  # noqa: E402
from muxbench import stats  # noqa: E402
from muxbench.gate import grid as paired_grid  # noqa: E402
from muxbench.gate.machine import check_same_machine  # noqa: E402
from muxbench.gate.signals import (SIGNAL_OPTIONS, compare_signals, describe_signals,  # noqa: E402
                                   print_aligned, print_signal_table, tests_per_configuration)
from muxbench.gate.statistics import Change, compare_metric, repetitions_needed  # noqa: E402,F401

# Set from an A/A comparison on this machine, see results/README.md.
DEFAULT_MAX_THROUGHPUT_DROP_PCT = 10.0
# Set from an A/A comparison on this machine, see results/README.md.
DEFAULT_MAX_P99_RISE_PCT = 25.0
DEFAULT_ALPHA = 0.05

RULES = """\
Regression rule, per configuration and metric:
  * throughput: the current median is more than --max-throughput-drop percent below
    the baseline median, and the difference is significant;
  * p99 latency: the current median is more than --max-p99-rise percent above the
    baseline median, and the difference is significant;
  * server CPU, syscalls and context switches per request (low-noise signals, where both
    sweeps have them): more than their --max-*-rise thresholds above the baseline median,
    and significant.
Completeness rule (regressions too, whatever the numbers):
  * a configuration the baseline completed has no complete run in CURRENT (missing
    from its plan, failed, skipped or incomplete);
  * a run in CURRENT failed, is pending or incomplete, or was skipped although the
    baseline completed its configuration;
  * a run in CURRENT has failed requests (errors > 0).
Configurations only in CURRENT are listed but not compared.
"Significant" means Mann-Whitney U (two-sided) p < --alpha / (configurations x 5 signals, 6
with a capacity sweep's capacity):
--alpha is family-wise over the whole comparison (Bonferroni).  With few repetitions that
can be impossible: the smallest p-value for K vs K repetitions is 2/C(2K,K) (K=3: 0.1).
When that minimum is >= that per-test alpha, the test is replaced by a stricter, honest rule: EVERY
current repetition must be worse than EVERY baseline repetition by more than the
threshold (throughput: max(current) < min(base) x (1 - drop); p99: min(current) >
max(base) x (1 + rise)).  The output says which rule each configuration used.

The low-noise signals (server CPU, syscalls, context switches per request: higher is
worse) follow the same rule with their own thresholds, where both sweeps have them; so does
a capacity sweep's capacity under its SLO (`bench sweep --capacity`; lower is worse,
--max-capacity-drop).

The whole grid (when both sweeps are the two builds of one interleaved `bench sweep
--builds`, as scripts/ci-perf makes them): each configuration-repetition was run by both
builds back to back, so each pair's ratio current/base cancels the machine's drift.  Server
CPU per request and throughput are regressions when the median ratio over all pairs is
worse than --max-grid-*-rise/drop AND a one-sided Wilcoxon signed-rank test over the pairs'
log-ratios gives p < --grid-alpha (see scripts/paired_grid.py).

Exit status: 0 no regression, 1 at least one regression, 2 bad input (missing
directory, no configuration planned in both, fewer than 2 repetitions planned on a
side, a baseline configuration with fewer than 2 complete) sweeps from different machines
without --allow-different-machine, or an internal error; a
failure of this script never exits 1, so it cannot pass for a verdict."""


def main(argv=None):
    args = parse_args(argv)
    try:
        return compare_sweeps(args)
    except Exception as e:  # noqa: BLE001 -- any crash exits 2, never 1 (a verdict) or 0
        print(f"compare.py: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


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
    grid = paired_grid.compare_grid(base, current, args)
    if machine_warning:
        print(machine_warning)
    print_header(base, current, args)
    print_table(results)
    print_signal_table(results)
    paired_grid.print_grid(grid)
    return print_verdict(results, problems + paired_grid.regression_lines(grid), args)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=RULES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_dir", help="baseline sweep directory")
    parser.add_argument("current_dir", help="sweep directory to check")
    parser.add_argument("--max-throughput-drop", type=float, metavar="PCT",
                        default=DEFAULT_MAX_THROUGHPUT_DROP_PCT,
                        help="allowed drop of median throughput, percent (default %(default)g)")
    parser.add_argument("--max-p99-rise", type=float, metavar="PCT",
                        default=DEFAULT_MAX_P99_RISE_PCT,
                        help="allowed rise of median p99 latency, percent (default %(default)g)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help="significance level of the Mann-Whitney U test (default %(default)g)")
    add_machine_and_signal_options(parser)
    paired_grid.add_options(parser)
    return parser.parse_args(argv)


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
        f"significance cannot be tested: {fmt.config_id(key)} has {n} complete repetition in "
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
        problems.append(f"{fmt.config_id(key)} completed in BASE but has no complete run in "
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
    reaches that, and the all-worse rule decides; the whole grid (paired_grid.py) is what
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


# ---------------------------------------------------------------------------- output


def print_header(base, current, args):
    print(f"baseline: {base.path}  ({describe(base)})")
    print(f"current:  {current.path}  ({describe(current)})")
    only = sorted(set(current.groups()) - set(base.groups()), key=mr.config_sort_key)
    if only:
        print(f"not compared (only in CURRENT): {', '.join(fmt.config_id(k) for k in only)}")
    print(f"thresholds: throughput drop > {args.max_throughput_drop:g}%, "
          f"p99 rise > {args.max_p99_rise:g}%, alpha = {args.alpha:g} family-wise "
          f"({args.test_alpha:.2g} per test: {args.alpha:g} / {args.alpha / args.test_alpha:.0f} tests)")
    print()


def describe(sweep):
    env = sweep.environment
    parts = [f"commit {env['git_commit']}" if env.get("git_commit") else None,
             env.get("kernel"), env.get("date")]
    return ", ".join(p for p in parts if p) or "no environment recorded"


def print_table(results):
    headers = ["configuration", "n", "throughput base → current", "Δ", "p",
               "p99 base → current", "Δ", "p", "verdict"]
    rows = [[fmt.config_id(r.key), f"{r.n_base}/{r.n_current}",
             f"{fmt.fmt_count(r.throughput.base)} → {fmt.fmt_count(r.throughput.current)}",
             fmt.fmt_pct(r.throughput.change_pct, signed=True), f"{r.throughput.p:.3f}",
             f"{fmt.fmt_us(r.p99.base)} → {fmt.fmt_us(r.p99.current)}",
             fmt.fmt_pct(r.p99.change_pct, signed=True), f"{r.p99.p:.3f}", verdict(r)]
            for r in results]
    print_aligned(headers, rows)


def verdict(r):
    """REGRESSION naming the metric(s); else improved / changed but not significant / ok."""
    bad = [name for name, ch in (("throughput", r.throughput), ("p99", r.p99)) if ch.regression]
    bad += [name for name, ch in r.signals.items() if ch.regression]
    rule = "" if r.exact_rule else " [all-worse rule]"
    if bad:
        return f"REGRESSION ({', '.join(bad)}){rule}"
    if r.throughput.improved or r.p99.improved:
        return "improved"
    if r.throughput.beyond_threshold or r.p99.beyond_threshold:
        return f"worse, not significant{rule}"
    return "ok"


def print_verdict(results, problems, args):
    """Explains the rule used, lists the regressions, and returns the exit status."""
    print()
    fallback = [r for r in results if not r.exact_rule]
    if fallback:
        r = fallback[0]
        print(f"note: with {r.n_base} vs {r.n_current} repetitions the smallest possible two-sided "
              f"Mann-Whitney p-value is {stats.min_mannwhitney_p(r.n_base, r.n_current):.3g} >= the "
              f"per-test alpha {args.test_alpha:.2g}, so significance cannot be reached for "
              f"{len(fallback)} of {len(results)} configuration(s). For those, a regression requires "
              f"that ALL current repetitions are worse than ALL baseline repetitions by more than the "
              f"threshold. Use at least {repetitions_needed(args.test_alpha)} repetitions per sweep to "
              f"apply the test itself.")
    regressions = [r for r in results if r.regression]
    for r in regressions:
        print(f"REGRESSION: {fmt.config_label(r.key)} ({fmt.config_id(r.key)}): "
              f"throughput {fmt.fmt_pct(r.throughput.change_pct, signed=True)}, "
              f"p99 {fmt.fmt_pct(r.p99.change_pct, signed=True)}{describe_signals(r)}")
    for reason in problems:
        print(f"REGRESSION: {reason}")
    if not regressions and not problems:
        print(f"no regression in {len(results)} configuration(s)")
    return 1 if regressions or problems else 0


# ---------------------------------------------------------------------------- options of the gate


def add_machine_and_signal_options(parser):
    group = parser.add_argument_group("same machine and low-noise signals")
    group.add_argument("--allow-different-machine", action="store_true",
                       help="compare even when the machine fingerprints differ or are missing "
                            "(the report then says so in its first line)")
    for name, default, what, lower_is_worse in SIGNAL_OPTIONS:
        change = "drop" if lower_is_worse else "rise"
        group.add_argument(f"--max-{name}-{change}", type=float, metavar="PCT", default=default,
                           help=f"allowed {change} of median {what}, percent (default %(default)g)")


if __name__ == "__main__":
    sys.exit(main())
