"""The gate's low-noise signals, beside throughput and p99: server CPU, syscalls and context
switches per request (higher is worse), and a capacity sweep's capacity under its SLO (lower is
worse). Each is compared per configuration with muxbench.gate.statistics.compare_metric, where both
sweeps measured it; compare.py applies them and prints the table.
"""

from muxbench import facts
from muxbench import format as fmt
from muxbench import results as mr
from muxbench import stats
from muxbench.gate.statistics import compare_metric

# Defaults set from an A/A run of scripts/ci-perf --base=HEAD, see results/README.md.
DEFAULT_MAX_SERVER_CPU_RISE_PCT = 5.0
DEFAULT_MAX_SYSCALLS_RISE_PCT = 10.0
DEFAULT_MAX_CONTEXT_SWITCHES_RISE_PCT = 10.0
DEFAULT_MAX_CAPACITY_DROP_PCT = 10.0
# (option name, default threshold, what it measures); the signal's name in the report, its
# place in a run's results, and its option: one row each.
SIGNAL_OPTIONS = (  # (option name, default, what, lower is worse)
    ("server-cpu", DEFAULT_MAX_SERVER_CPU_RISE_PCT, "server CPU µs per request", False),
    ("syscalls", DEFAULT_MAX_SYSCALLS_RISE_PCT, "server syscalls per request", False),
    ("context-switches", DEFAULT_MAX_CONTEXT_SWITCHES_RISE_PCT,
     "server context switches per request", False),
    # `bench sweep --capacity=SLO`: the highest rate meeting the SLO (higher is better). A
    # capacity is a bracket at 5% precision, so a drop smaller than that is not a change.
    ("capacity", DEFAULT_MAX_CAPACITY_DROP_PCT, "capacity under the SLO", True),
)
LOWER_IS_WORSE = {name for name, _, _, lower in SIGNAL_OPTIONS if lower}
SIGNALS = (  # (name in the report, metric (facts.METRIC_PATHS), option)
    ("server CPU/req", "server_us_per_req", "server-cpu"),
    ("syscalls/req", "server_syscalls_per_req", "syscalls"),
    ("ctx switches/req", "server_cs_per_req", "context-switches"),
    ("capacity", "capacity", "capacity"),
)
# Tests per configuration, for the Bonferroni split: throughput, p99 and each signal above.
# (The capacity counts only in a capacity sweep: tests_per_configuration.)
TESTS_PER_CONFIGURATION = 2 + len(SIGNALS) - 1


def tests_per_configuration(pairs):
    """Tests per configuration for the Bonferroni split; {key: (base runs, current runs)}."""
    capacity = any(signal_values(b, "capacity") for b, _ in pairs.values())
    return TESTS_PER_CONFIGURATION + (1 if capacity else 0)


def signal_values(runs, metric):
    """The signal over the runs that measured it (a run may report null: not measured)."""
    values = [mr.value_at(run.results, facts.METRIC_PATHS[metric]) for run in runs]
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def compare_signals(base_runs, current_runs, args, alpha, use_test):
    """{signal name: Change} for each signal both sides measured in 2+ repetitions.

    When a run did not measure a signal, the rule (rank test or all-worse) follows the
    repetitions that did.
    """
    out = {}
    for name, metric, option in SIGNALS:
        b, c = signal_values(base_runs, metric), signal_values(current_runs, metric)
        if len(b) >= 2 and len(c) >= 2 and stats.median_ci(b).median > 0:
            if option in LOWER_IS_WORSE:
                limit = -getattr(args, f"max_{option.replace('-', '_')}_drop")
            else:
                limit = getattr(args, f"max_{option.replace('-', '_')}_rise")
            test = use_test and stats.min_mannwhitney_p(len(b), len(c)) < alpha
            out[name] = compare_metric(b, c, limit, alpha, test)
    return out


def print_signal_table(results):
    """Base → current median, change and p of every low-noise signal, per configuration."""
    names = [n for n, _, _ in SIGNALS if any(n in r.signals for r in results)]
    if not names:
        print("\nlow-noise signals: none measured in both sweeps")
        return
    headers = ["configuration"] + [h for n in names for h in (f"{n} base → current", "Δ", "p")]
    rows = []
    for r in results:
        row = [facts.config_id(r.key)]
        for n in names:
            ch = r.signals.get(n)
            row += ([f"{ch.base:.4g} → {ch.current:.4g}", fmt.fmt_pct(ch.change_pct, signed=True),
                     f"{ch.p:.3f}"] if ch else ["not measured", "", ""])
        rows.append(row)
    print()
    fmt.print_aligned(headers, rows)


def describe_signals(r):
    """", server CPU/req +12%" ... for the REGRESSION line."""
    return "".join(f", {n} {fmt.fmt_pct(ch.change_pct, signed=True)}" for n, ch in r.signals.items())
