#!/usr/bin/python3
"""Compares two muxbench sweeps and fails when the current one regressed.

    scripts/compare.py BASE_DIR CURRENT_DIR [--max-throughput-drop=PCT]
                       [--max-p99-rise=PCT] [--alpha=0.05]

For every configuration (backend, clients, message size) present in both sweeps, the
medians of throughput and p99 latency over the repetitions are compared, and a
two-sided Mann-Whitney U test asks whether the repetitions differ at all.
"""

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import mannwhitneyu

sys.path.insert(0, str(Path(__file__).resolve().parent))
import muxbench_results as mr  # noqa: E402

# Set from an A/A comparison on this machine, see results/README.md.
DEFAULT_MAX_THROUGHPUT_DROP_PCT = 10.0
# Set from an A/A comparison on this machine, see results/README.md.
DEFAULT_MAX_P99_RISE_PCT = 25.0
DEFAULT_ALPHA = 0.05
# Server syscalls per request: nearly deterministic, so a tighter gate. Set from an A/A
# comparison on this machine, see results/README.md.
DEFAULT_MAX_SYSCALLS_RISE_PCT = 10.0

RULES = """\
Regression rule, per configuration and metric:
  * throughput: the current median is more than --max-throughput-drop percent below
    the baseline median, and the difference is significant;
  * p99 latency: the current median is more than --max-p99-rise percent above the
    baseline median, and the difference is significant;
  * server syscalls per request (results.kernel_counters): more than --max-syscalls-rise
    percent above the baseline median, and significant. Configurations where a sweep did
    not count them (older runs, --counters=off) are listed as not compared.
"Significant" means Mann-Whitney U (two-sided) p < --alpha.  With few repetitions that
can be impossible: the smallest p-value for K vs K repetitions is 2/C(2K,K) (K=3: 0.1).
When that minimum is >= alpha, the test is replaced by a stricter, honest rule: EVERY
current repetition must be worse than EVERY baseline repetition by more than the
threshold (throughput: max(current) < min(base) x (1 - drop); p99: min(current) >
max(base) x (1 + rise)).  The output says which rule each configuration used.

Exit status: 0 no regression, 1 at least one regression, 2 bad input (missing
directory, no configuration in common, fewer than 2 repetitions on a side)."""


def main(argv=None):
    args = parse_args(argv)
    try:
        base, current = mr.load_sweep(args.base_dir), mr.load_sweep(args.current_dir)
        pairs = pair_configurations(base, current)
    except mr.InputError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    results = [compare_configuration(key, b, c, args) for key, (b, c) in pairs.items()]
    syscalls = compare_syscalls(pairs, args)
    print_header(base, current, pairs, args)
    print_table(results)
    status = print_verdict(results, args)
    return max(status, print_syscalls_gate(syscalls, args))


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
    parser.add_argument("--max-syscalls-rise", type=float, metavar="PCT",
                        default=DEFAULT_MAX_SYSCALLS_RISE_PCT,
                        help="allowed rise of the server's median syscalls per request, percent "
                             "(default %(default)g)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help="significance level of the Mann-Whitney U test (default %(default)g)")
    return parser.parse_args(argv)


def pair_configurations(base, current):
    """{key: (base runs, current runs)} for configurations both sweeps completed.

    Raises InputError when nothing is in common or a side has fewer than 2 repetitions:
    a comparison that cannot test significance must not pass silently.
    """
    b, c = base.groups(), current.groups()
    common = [k for k in b if k in c]
    if not common:
        raise mr.InputError(f"no configuration (backend, clients, message size) completed in both "
                            f"{base.path} ({len(b)} configurations) and {current.path} "
                            f"({len(c)}); run both sweeps with the same --backends/--clients/"
                            f"--message-sizes")
    for key in common:
        for name, runs in (("BASE", b[key]), ("CURRENT", c[key])):
            if len(runs) < 2:
                raise mr.InputError(
                    f"significance cannot be tested: {mr.config_id(key)} has {len(runs)} complete "
                    f"repetition in {name} (need at least 2 per side, 4+ for p < 0.05); "
                    f"rerun that sweep with more repetitions, e.g. `bench sweep --repetitions=5`")
    return {k: (b[k], c[k]) for k in common}


# ---------------------------------------------------------------------------- statistics


@dataclass
class Change:
    """One metric of one configuration, baseline vs current."""

    base: float
    current: float
    change_pct: float
    p: float
    beyond_threshold: bool   # the median moved the wrong way by more than allowed
    regression: bool
    improved: bool


@dataclass
class Comparison:
    key: tuple
    n_base: int
    n_current: int
    exact_rule: bool         # False: Mann-Whitney cannot reach alpha, all-worse rule used
    throughput: Change
    p99: Change

    @property
    def regression(self):
        return self.throughput.regression or self.p99.regression


def compare_configuration(key, base_runs, current_runs, args):
    n1, n2 = len(base_runs), len(current_runs)
    use_test = mr.min_mannwhitney_p(n1, n2) < args.alpha
    tput = compare_metric(mr.values(base_runs, "throughput"), mr.values(current_runs, "throughput"),
                          -args.max_throughput_drop, args.alpha, use_test)
    p99 = compare_metric(mr.values(base_runs, "p99"), mr.values(current_runs, "p99"),
                         args.max_p99_rise, args.alpha, use_test)
    return Comparison(key, n1, n2, use_test, tput, p99)


def compare_metric(base, current, limit_pct, alpha, use_test):
    """Change of one metric; limit_pct < 0 means "lower is worse" (throughput), > 0 higher.

    With use_test, a regression needs the median change past the limit and p < alpha.
    Without (too few repetitions for p < alpha to be possible), it needs every current
    value past every baseline value moved by the limit: no overlap, with margin.
    """
    b_med, c_med = mr.median_ci(base).median, mr.median_ci(current).median
    change = (c_med - b_med) / b_med * 100.0 if b_med else math.inf
    p = mann_whitney_p(base, current)
    sign = -1.0 if limit_pct < 0 else 1.0      # +1 when a rise is bad
    bad = sign * change > abs(limit_pct)
    good = -sign * change > abs(limit_pct)
    factor = 1.0 + limit_pct / 100.0
    if use_test:
        regression, improved = bad and p < alpha, good and p < alpha
    elif sign > 0:
        regression = min(current) > max(base) * factor
        improved = max(current) * factor < min(base)
    else:
        regression = max(current) < min(base) * factor
        improved = min(current) * factor > max(base)
    return Change(b_med, c_med, change, p, bad, regression, improved)


def mann_whitney_p(a, b):
    """Two-sided Mann-Whitney U p-value; 1.0 when undefined (e.g. all values equal)."""
    p = mannwhitneyu(a, b, alternative="two-sided").pvalue
    return 1.0 if math.isnan(p) else float(p)


def repetitions_needed(alpha):
    """Smallest K such that K vs K repetitions can reach p < alpha."""
    k = 2
    while mr.min_mannwhitney_p(k, k) >= alpha:
        k += 1
    return k


# ---------------------------------------------------------------------------- output


def print_header(base, current, pairs, args):
    print(f"baseline: {base.path}  ({describe(base)})")
    print(f"current:  {current.path}  ({describe(current)})")
    only = sorted(set(base.groups()) ^ set(current.groups()), key=mr.config_sort_key)
    if only:
        print(f"not compared (in one sweep only): {', '.join(mr.config_id(k) for k in only)}")
    print(f"thresholds: throughput drop > {args.max_throughput_drop:g}%, "
          f"p99 rise > {args.max_p99_rise:g}%, alpha = {args.alpha:g}")
    print()


def describe(sweep):
    env = sweep.environment
    parts = [f"commit {env['git_commit']}" if env.get("git_commit") else None,
             env.get("kernel"), env.get("date")]
    return ", ".join(p for p in parts if p) or "no environment recorded"


def print_table(results):
    headers = ["configuration", "n", "throughput base → current", "Δ", "p",
               "p99 base → current", "Δ", "p", "verdict"]
    rows = [[mr.config_id(r.key), f"{r.n_base}/{r.n_current}",
             f"{mr.fmt_count(r.throughput.base)} → {mr.fmt_count(r.throughput.current)}",
             mr.fmt_pct(r.throughput.change_pct, signed=True), f"{r.throughput.p:.3f}",
             f"{mr.fmt_us(r.p99.base)} → {mr.fmt_us(r.p99.current)}",
             mr.fmt_pct(r.p99.change_pct, signed=True), f"{r.p99.p:.3f}", verdict(r)]
            for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for i, row in enumerate([headers] + rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def verdict(r):
    """REGRESSION naming the metric(s); else improved / changed but not significant / ok."""
    bad = [name for name, ch in (("throughput", r.throughput), ("p99", r.p99)) if ch.regression]
    rule = "" if r.exact_rule else " [all-worse rule]"
    if bad:
        return f"REGRESSION ({', '.join(bad)}){rule}"
    if r.throughput.improved or r.p99.improved:
        return "improved"
    if r.throughput.beyond_threshold or r.p99.beyond_threshold:
        return f"worse, not significant{rule}"
    return "ok"


def print_verdict(results, args):
    """Explains the rule used, lists the regressions, and returns the exit status."""
    print()
    fallback = [r for r in results if not r.exact_rule]
    if fallback:
        r = fallback[0]
        print(f"note: with {r.n_base} vs {r.n_current} repetitions the smallest possible two-sided "
              f"Mann-Whitney p-value is {mr.min_mannwhitney_p(r.n_base, r.n_current):.3f} >= alpha "
              f"{args.alpha:g}, so significance cannot be reached for {len(fallback)} of "
              f"{len(results)} configuration(s). For those, a regression requires that ALL current "
              f"repetitions are worse than ALL baseline repetitions by more than the threshold. "
              f"Use at least {repetitions_needed(args.alpha)} repetitions per sweep to apply the "
              f"test itself.")
    regressions = [r for r in results if r.regression]
    for r in regressions:
        print(f"REGRESSION: {mr.config_label(r.key)} ({mr.config_id(r.key)}): "
              f"throughput {mr.fmt_pct(r.throughput.change_pct, signed=True)}, "
              f"p99 {mr.fmt_pct(r.p99.change_pct, signed=True)}")
    if not regressions:
        print(f"no regression in {len(results)} configuration(s)")
    return 1 if regressions else 0


# ---------------------------------------------------------------------------- syscalls gate


def compare_syscalls(pairs, args):
    """{key: Change of the server's syscalls per request, or None where a side lacks them}."""
    changes = {}
    for key, (base_runs, current_runs) in pairs.items():
        base = mr.values(base_runs, "server_syscalls_per_req")
        current = mr.values(current_runs, "server_syscalls_per_req")
        if len(base) < 2 or len(current) < 2:
            changes[key] = None
            continue
        use_test = mr.min_mannwhitney_p(len(base), len(current)) < args.alpha
        changes[key] = compare_metric(base, current, args.max_syscalls_rise, args.alpha, use_test)
    return changes


def print_syscalls_gate(changes, args):
    """The server-syscalls-per-request table and its verdict; returns the exit status (0/1)."""
    print(f"\nserver syscalls per request (regression: rise > {args.max_syscalls_rise:g}% "
          f"and significant)")
    compared = {k: ch for k, ch in changes.items() if ch is not None}
    missing = [mr.config_id(k) for k, ch in changes.items() if ch is None]
    if missing:
        print(f"not compared (fewer than 2 runs with results.kernel_counters on a side: older "
              f"runs or --counters=off): {', '.join(missing)}")
    if not compared:
        return 0
    headers = ["configuration", "base → current", "Δ", "p", "verdict"]
    rows = []
    for key, ch in compared.items():
        word = ("REGRESSION" if ch.regression else "improved" if ch.improved
                else "worse, not significant" if ch.beyond_threshold else "ok")
        rows.append([mr.config_id(key), f"{ch.base:.3f} → {ch.current:.3f}",
                     mr.fmt_pct(ch.change_pct, signed=True), f"{ch.p:.3f}", word])
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for i, row in enumerate([headers] + rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    regressions = [(k, ch) for k, ch in compared.items() if ch.regression]
    for key, ch in regressions:
        print(f"REGRESSION: {mr.config_label(key)} ({mr.config_id(key)}): server syscalls per "
              f"request {mr.fmt_pct(ch.change_pct, signed=True)}")
    if not regressions:
        print(f"no syscalls-per-request regression in {len(compared)} configuration(s)")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
