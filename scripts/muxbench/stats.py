"""The statistics muxbench's reports state: a median with an order-statistic confidence interval
and its real coverage, the coefficient of variation, the best p-value a rank test can reach, and
the latency-load curve of a rate sweep with its knee. Pure functions of numbers and runs, here
so every script computes them one way.
"""

import math
import statistics
from dataclasses import dataclass

from muxbench import facts



@dataclass
class MedianCI:
    """A median with a distribution-free confidence interval and the interval's real coverage."""

    median: float
    low: float
    high: float
    coverage: float
    n: int


def median_ci(samples, confidence=facts.MEDIAN_INTERVAL_CONFIDENCE):
    """Median and its confidence interval by the order-statistic (binomial) method.

    Why this and not a bootstrap: with the 3-5 repetitions a sweep affords, a bootstrap
    of the median can only return observed values and silently overstates its coverage.
    The order-statistic interval [x_(k), x_(n-k+1)] has an exact coverage
    1 - 2*P(Binomial(n, 1/2) <= k-1), independent of the distribution.  We pick the
    narrowest such interval reaching `confidence`; when n is too small for any interval
    to reach it (n < 6 for 95%), the interval is the full range and `coverage` says what
    it really achieves (n=3: 75%, n=5: 93.75%), so reports can state it honestly.
    """
    xs = sorted(float(x) for x in samples)
    n = len(xs)
    if n == 0:
        return None
    k = 1
    while k + 1 <= (n + 1) // 2 and _order_stat_coverage(n, k + 1) >= confidence:
        k += 1
    return MedianCI(statistics.median(xs), xs[k - 1], xs[n - k], _order_stat_coverage(n, k), n)


def fmt_coverage(coverage):
    """0.75 -> '75%', 0.96875 -> '96.8%': rounded down, so nothing reads as 95% unless it is."""
    return f"{math.floor(coverage * 1000) / 10:g}%"


def coverage_note(cis):
    """'coverage 75% (n=3)' for the intervals drawn or tabulated; several when n differs."""
    seen = sorted({(ci.n, ci.coverage) for ci in cis if ci})
    return "coverage " + ", ".join(f"{fmt_coverage(c)} (n={n})" for n, c in seen) if seen else ""


def _order_stat_coverage(n, k):
    """Probability that [x_(k), x_(n-k+1)] contains the true median of a continuous law."""
    tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
    return max(0.0, 1.0 - 2.0 * tail)


def cv_pct(samples):
    """Coefficient of variation (sample stdev / mean) in percent; None below 2 samples."""
    if len(samples) < 2:
        return None
    mean = statistics.mean(samples)
    return statistics.stdev(samples) / mean * 100.0 if mean else None


def min_mannwhitney_p(n1, n2):
    """Smallest two-sided p-value an exact Mann-Whitney U test can give for these sizes.

    It is reached when the two samples do not overlap at all: 2 / C(n1+n2, n1).
    With 3 vs 3 repetitions that is 0.1, so p < 0.05 is impossible however large the change.
    """
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


# The knee of a latency-load curve: the highest achieved rate whose p99 is at most this many
# times the p99 at the lowest rate measured (and every lower rate's too) — where queueing
# starts to dominate. A factor, not a derivative: curves of 3-6 points have no usable slope.
KNEE_P99_FACTOR = 3.0


@dataclass
class RatePoint:
    """One open-loop configuration of a rate sweep: medians over its repetitions."""

    rate: str
    target: float
    achieved: float
    p50: float
    p99: float
    p999: float
    short_runs: int  # repetitions that fell short of the target (facts.ACHIEVED_RATE_TOLERANCE)
    n: int


def rate_points(runs_by_rate):
    """{rate label: [runs]} of one backend/clients/size -> [RatePoint] in order of offered
    (target) rate: past the server's capacity the achieved rate can fall as the offered rises."""
    points = []
    for rate, runs in runs_by_rate.items():
        def med(xs):
            xs = [x for x in xs if x is not None]
            return float(statistics.median(xs)) if xs else float("nan")
        targets = [r.results.get("target_rps") or 0 for r in runs]
        achieved = [r.results.get("throughput_rps", 0) for r in runs]
        lat = [r.results.get("latency_us", {}) for r in runs]
        short = sum(1 for t, a in zip(targets, achieved)
                    if t and a < (1 - facts.ACHIEVED_RATE_TOLERANCE) * t)
        points.append(RatePoint(rate, med(targets), med(achieved), med([l.get("p50") for l in lat if l]),
                                med([l.get("p99") for l in lat if l]), med([l.get("p999") for l in lat if l]),
                                short, len(runs)))
    return sorted(points, key=lambda p: p.target)


def latency_knee(points):
    """The knee (see KNEE_P99_FACTOR) of points in order of offered rate; None for no points."""
    if not points:
        return None
    knee = points[0]
    for p in points[1:]:
        if p.p99 > KNEE_P99_FACTOR * points[0].p99:
            break
        knee = p
    return knee
