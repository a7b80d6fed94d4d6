"""The parts of the report a reader wants first: the ranking of the backends per client
count (and per SLO in a capacity sweep) with intervals and what limited each run; and, for a
rate sweep, the latency-load table. report.py places them.
"""

from muxbench import facts
from muxbench import format as fmt
from muxbench import results as mr
from muxbench import stats



def limited_by(runs):
    """The bottleneck verdicts of a configuration's runs: 'server (3 of 3)', or each one."""
    counts = {}
    for r in runs:
        verdict = facts.BOTTLENECK_WORDS.get(r.results.get("bottleneck"), facts.BOTTLENECK_WORDS["unknown"])
        counts[verdict] = counts.get(verdict, 0) + 1
    return ", ".join(f"{v} ({n} of {len(runs)})" for v, n in sorted(counts.items(), key=lambda x: -x[1]))


def interval(ci):
    return f"{fmt.fmt_count(ci.low)}–{fmt.fmt_count(ci.high)} ({stats.fmt_coverage(ci.coverage)})" if ci else "–"

SATURATED = f"{facts.SATURATED_FRACTION:.0%}"
RANKING_NOTE = (
    "Ranked by median throughput over repetitions. (≈): its interval overlaps the one ranked above, so "
    "the data do not tell the two apart. \"Limited by\" is the harness's verdict from CPU use: a side is "
    f"saturated when its busiest thread ran ≥ {SATURATED} of the measured window, or its process used "
    f"≥ {SATURATED} of its cores. On a machine where the load generator and the server share the work "
    "of loopback TCP, both saturate together.")
CAPACITY_NOTE = (
    "Capacity: the highest open-loop rate whose corrected latency met the SLO, with the achieved rate "
    f"within {facts.ACHIEVED_RATE_TOLERANCE:.0%} of the target and no errors, found by `bench capacity`'s "
    "bracketing search (median over repetitions).")


def ranking_blocks(sweep, groups):
    """Per message size and client count, the backends by median throughput (and by capacity
    when the runs searched one), each with its interval, its ratio to the first, and what limited it."""
    headers = ["Msg size", "Clients", "Rank", "Backend", "Throughput (req/s)", "Interval (coverage)",
               "vs first", "Server µs/req", "Limited by"]
    rows = []
    by_point = {}
    for key, runs in groups.items():
        by_point.setdefault((key[2], key[1]), []).append((key[0], runs))
    for (size, clients), entries in sorted(by_point.items()):
        ranked = sorted(((b, mr.summarize(runs), runs) for b, runs in entries),
                        key=lambda e: -(e[1]["throughput"].median if e[1]["throughput"] else 0))
        best = ranked[0][1]["throughput"]
        previous = None
        for rank, (backend, s, runs) in enumerate(ranked, 1):
            t = s["throughput"]
            # Overlapping intervals: this rank and the one above are not told apart by the data.
            tie = previous is not None and t and previous and t.high >= previous.low
            rows.append([fmt.fmt_bytes(size), f"{clients:,}", f"{rank}" + (" (≈)" if tie else ""), backend,
                         fmt.fmt_count(t.median) if t else "–", interval(t) if s["n"] > 1 else "–",
                         f"{t.median / best.median:.2f}×" if t and best and best.median else "–",
                         fmt.fmt_us(None) if not s["server_us_per_req"] else f"{s['server_us_per_req'].median:.2f}",
                         limited_by(runs)])
            previous = t
    return [("table", headers, rows), ("p", RANKING_NOTE)] + capacity_blocks(groups)


def capacity_blocks(groups):
    """A capacity sweep's ranking: highest rate meeting the SLO, per client count."""
    rows = []
    by_point = {}
    for key, runs in groups.items():
        caps = mr.values(runs, "capacity")
        if caps:
            slo = runs[0].results.get("slo", "?")
            by_point.setdefault((slo, key[2], key[1]), []).append((key[0], stats.median_ci(caps), len(caps)))
    for (slo, size, clients), entries in sorted(by_point.items()):
        for rank, (backend, ci, n) in enumerate(sorted(entries, key=lambda e: -e[1].median), 1):
            rows.append([slo, fmt.fmt_bytes(size), f"{clients:,}", str(rank), backend,
                         fmt.fmt_count(ci.median), interval(ci) if n > 1 else "–"])
    if not rows:
        return []
    return [("table", ["SLO", "Msg size", "Clients", "Rank", "Backend", "Capacity (req/s)", "Interval (coverage)"],
             rows),
            ("p", CAPACITY_NOTE)]


def rate_blocks(sweep):
    """A rate sweep's open-loop configurations: what was offered, what was carried, latency."""
    headers = ["Msg size", "Backend", "Clients", "Offered", "Target (req/s)", "Achieved (req/s)",
               "p50", "p99", "p99.9", "Short of target", "n"]
    rows, knees = [], []
    by_curve = {}
    for key, runs in sweep.rate_groups().items():
        by_curve.setdefault(key[:3], {})[key[3]] = runs
    for (backend, clients, size), runs_by_rate in by_curve.items():
        points = stats.rate_points(runs_by_rate)
        for p in points:
            rows.append([fmt.fmt_bytes(size), backend, f"{clients:,}",
                         p.rate + (" of capacity" if p.rate.endswith("%") else ""),
                         fmt.fmt_count(p.target), fmt.fmt_count(p.achieved), fmt.fmt_us(p.p50),
                         fmt.fmt_us(p.p99), fmt.fmt_us(p.p999),
                         f"{p.short_runs} of {p.n}" if p.short_runs else "–", str(p.n)])
        knee = stats.latency_knee(points)
        knees.append(f"{backend}, {clients:,} clients, {fmt.fmt_bytes(size)}: knee at "
                     f"{fmt.fmt_count(knee.achieved)} req/s achieved ({knee.rate} offered), p99 "
                     f"{fmt.fmt_us(knee.p99)}")
    return [("table", headers, rows),
            ("p", f"Open loop: requests are sent on schedule whether or not replies have come back, and "
                  f"latency is measured from each request's scheduled send time (corrected for "
                  f"coordinated omission). Medians over repetitions. A percentage is of the median "
                  f"closed-loop throughput the same sweep measured for that configuration. \"Short of "
                  f"target\": repetitions that achieved less than "
                  f"{100 * (1 - facts.ACHIEVED_RATE_TOLERANCE):.0f}% of their target rate. The knee is the "
                  f"highest offered rate whose p99 stays within {stats.KNEE_P99_FACTOR:g}× the p99 at the "
                  f"lowest rate."),
            ("ul", knees)]


