"""The whole grid at once: the paired runs of one interleaved A/B sweep.

`bench sweep --builds` (what `scripts/ci-perf` runs) measures each configuration-repetition
once per build, back to back, in a seeded random order (blocked randomization). The two runs
of such a pair met the same moment of the machine, so their ratio cancels the drift that
makes runs minutes apart differ by 10-20% on a shared VM (the per-configuration rank test
of compare.py cannot see past it with 5 vs 5 repetitions). A change that costs every request
more, the kind a CI gate exists to catch, moves every pair the same way: over the 50 pairs
of a 10-configuration grid, a one-sided Wilcoxon signed-rank test on the pairs' log-ratios
sees a shift of a few percent.

Rule, per grid signal: a regression when the median over all pairs of (current / base) is
worse than its threshold AND the signed-rank p < --grid-alpha. Two sweeps that were not made
as one interleaved sweep (different seeds, runs not back to back) have no pairs: the rule
then does not apply and says so.
"""

import math
import statistics
import warnings
from dataclasses import dataclass

from scipy.stats import wilcoxon

from muxbench import results as mr

MIN_PAIRS = 10      # fewer and the signed-rank test has little to say
DEFAULT_GRID_ALPHA = 0.01
# (name in the report, metric (facts.METRIC_PATHS), True when higher is worse, option, default
# threshold %).
# Thresholds: about four times the largest |grid-wide median| of the first three A/A runs of
# scripts/ci-perf-selftest on the 2-core VM (server CPU 0.4%, throughput 1.4%; results/README.md).
GRID_SIGNALS = (
    ("server CPU/req", "server_us_per_req", True, "server-cpu-rise", 2.0),
    ("throughput", "throughput", False, "throughput-drop", 5.0),
)


@dataclass
class GridChange:
    """One signal over every pair of the grid."""

    name: str
    pairs: int
    change_pct: float    # median over pairs of current/base - 1, in percent
    worse_pct: float     # the same, positive when worse
    p: float             # one-sided signed-rank: the current side is worse
    limit_pct: float
    regression: bool


def add_options(parser):
    group = parser.add_argument_group("the whole grid (paired runs of one interleaved sweep)")
    for name, _, higher_worse, option, default in GRID_SIGNALS:
        group.add_argument(f"--max-grid-{option}", type=float, metavar="PCT", default=default,
                           help=f"allowed {'rise' if higher_worse else 'drop'} of {name} over all pairs "
                                f"(median of current/base), percent (default %(default)g)")
    group.add_argument("--grid-alpha", type=float, default=DEFAULT_GRID_ALPHA,
                       help="significance level of the one-sided signed-rank test over the pairs "
                            "(default %(default)g)")


def paired_runs(base, current):
    """[(base run, current run)] of one configuration-repetition run back to back in one sweep."""
    if base.meta.get("seed") != current.meta.get("seed"):
        return []
    by_id = {r.id: r for r in current.runs if r.ok}
    pairs = []
    for b in base.runs:
        c = by_id.get(b.id)
        if b.ok and c is not None and abs(b.order - c.order) == 1:
            pairs.append((b, c))
    return pairs


def compare_grid(base, current, args):
    """[GridChange] per grid signal measured in MIN_PAIRS+ pairs; [] when there are no pairs."""
    pairs = paired_runs(base, current)
    changes = []
    for name, metric, higher_worse, option, _ in GRID_SIGNALS:
        logs = []
        for b, c in pairs:
            vb, vc = mr.metric(b, metric), mr.metric(c, metric)
            if vb is not None and vc is not None and vb > 0 and vc > 0:
                logs.append(math.log(vc / vb))
        if len(logs) < MIN_PAIRS:
            continue
        worse_logs = logs if higher_worse else [-x for x in logs]
        try:
            with warnings.catch_warnings():  # pairs with equal values: scipy says it falls back
                warnings.simplefilter("ignore")  # to the normal approximation, which is right
                p = float(wilcoxon(worse_logs, alternative="greater").pvalue)
        except ValueError:  # every pair equal: no shift at all
            p = 1.0
        if math.isnan(p):
            p = 1.0
        change = (math.exp(statistics.median(logs)) - 1) * 100
        worse = change if higher_worse else -change
        limit = getattr(args, f"max_grid_{option.replace('-', '_')}")
        changes.append(GridChange(name, len(logs), change, worse, p, limit, worse > limit and p < args.grid_alpha))
    return changes


def print_grid(changes):
    print()
    if not changes:
        print("the whole grid: no paired runs (the sweeps were not one interleaved `bench sweep --builds`), "
              "not compared")
        return
    print(f"the whole grid, {changes[0].pairs} pairs of back-to-back runs (median of current/base, "
          f"one-sided signed-rank p):")
    for ch in changes:
        verdict = "REGRESSION" if ch.regression else "ok"
        print(f"  {ch.name}: {ch.change_pct:+.1f}% ({ch.worse_pct:+.1f}% worse; limit {ch.limit_pct:g}%), "
              f"p = {ch.p:.4f}: {verdict}")


def regression_lines(changes):
    """One line per grid regression, for compare.py's verdict (which prefixes REGRESSION:)."""
    return [f"the whole grid: {ch.name} {ch.change_pct:+.1f}% over {ch.pairs} paired runs "
            f"(signed-rank p = {ch.p:.4f})" for ch in changes if ch.regression]
