"""The options of scripts/compare.py and the rule they set, as the gate's --help states it:
thresholds, significance level, the same-machine check and the low-noise and whole-grid signals.
scripts/ci-perf-selftest parses compare flags with the same parser.
"""

import argparse

from muxbench.gate import grid
from muxbench.gate.signals import SIGNAL_OPTIONS

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
log-ratios gives p < --grid-alpha (see scripts/muxbench/gate/grid.py).

Exit status: 0 no regression, 1 at least one regression, 2 bad input (missing
directory, no configuration planned in both, fewer than 2 repetitions planned on a
side, a baseline configuration with fewer than 2 complete) sweeps from different machines
without --allow-different-machine, or an internal error; a
failure of this script never exits 1, so it cannot pass for a verdict."""


def parse_args(argv, description):
    """compare.py's arguments; `description` heads --help, the rule (RULES) ends it."""
    parser = argparse.ArgumentParser(description=description, epilog=RULES,
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
    grid.add_options(parser)
    return parser.parse_args(argv)


def add_machine_and_signal_options(parser):
    group = parser.add_argument_group("same machine and low-noise signals")
    group.add_argument("--allow-different-machine", action="store_true",
                       help="compare even when the machine fingerprints differ or are missing "
                            "(the report then says so in its first line)")
    for name, default, what, lower_is_worse in SIGNAL_OPTIONS:
        change = "drop" if lower_is_worse else "rise"
        group.add_argument(f"--max-{name}-{change}", type=float, metavar="PCT", default=default,
                           help=f"allowed {change} of median {what}, percent (default %(default)g)")
