"""The statistics of the regression gate: one metric of one configuration, base vs current.

A change is a regression when its median moved the wrong way past a threshold and a
two-sided Mann-Whitney U test over the repetitions says the two sides differ (p < alpha);
with too few repetitions for p < alpha to be possible, when every current value is worse
than every base value by the threshold. compare.py applies it to each configuration and
signal.
"""

import math
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from muxbench import stats


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


def compare_metric(base, current, limit_pct, alpha, use_test):
    """Change of one metric; limit_pct < 0 means "lower is worse" (throughput), > 0 higher.

    With use_test, a regression needs the median change past the limit and p < alpha.
    Without (too few repetitions for p < alpha to be possible), it needs every current
    value past every baseline value moved by the limit: no overlap, with margin.
    """
    b_med, c_med = stats.median_ci(base).median, stats.median_ci(current).median
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
    while stats.min_mannwhitney_p(k, k) >= alpha:
        k += 1
    return k
