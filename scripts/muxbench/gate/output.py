"""What scripts/compare.py prints: the header, the table of configurations, each one's verdict,
and the closing verdict that sets the exit status.
"""

from muxbench import facts
from muxbench import format as fmt
from muxbench import results as mr
from muxbench import stats
from muxbench.gate.signals import describe_signals
from muxbench.gate.statistics import repetitions_needed


def print_header(base, current, args):
    print(f"baseline: {base.path}  ({describe(base)})")
    print(f"current:  {current.path}  ({describe(current)})")
    only = sorted(set(current.groups()) - set(base.groups()), key=mr.config_sort_key)
    if only:
        print(f"not compared (only in CURRENT): {', '.join(facts.config_id(k) for k in only)}")
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
    rows = [[facts.config_id(r.key), f"{r.n_base}/{r.n_current}",
             f"{fmt.fmt_count(r.throughput.base)} → {fmt.fmt_count(r.throughput.current)}",
             fmt.fmt_pct(r.throughput.change_pct, signed=True), f"{r.throughput.p:.3f}",
             f"{fmt.fmt_us(r.p99.base)} → {fmt.fmt_us(r.p99.current)}",
             fmt.fmt_pct(r.p99.change_pct, signed=True), f"{r.p99.p:.3f}", verdict(r)]
            for r in results]
    fmt.print_aligned(headers, rows)


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
        print(f"REGRESSION: {fmt.config_label(r.key)} ({facts.config_id(r.key)}): "
              f"throughput {fmt.fmt_pct(r.throughput.change_pct, signed=True)}, "
              f"p99 {fmt.fmt_pct(r.p99.change_pct, signed=True)}{describe_signals(r)}")
    for reason in problems:
        print(f"REGRESSION: {reason}")
    if not regressions and not problems:
        print(f"no regression in {len(results)} configuration(s)")
    return 1 if regressions or problems else 0
