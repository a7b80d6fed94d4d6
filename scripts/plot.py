#!/usr/bin/python3
"""Plots a muxbench sweep: writes DIR/plots/*.png and *.svg and prints the files written.

    scripts/plot.py DIR [--spectrum-clients N] [--timeline-run ID]

Plots: throughput, p99 latency, server CPU per request, and the server's syscalls and
context switches per request against the number of clients; the latency percentile spectrum at one client count;
for a rate sweep, latency against the achieved rate (muxbench/plots/rates.py); with drawn server work,
the short requests' p99 against clients (muxbench/plots/work_classes.py); the per-second timeline
of one run; and, when DIR/micro.json exists, the cost of one wait call against the
number of registered fds.  Every backend keeps one colour and marker in all of them.
Optional inputs (timeline, latency_spectrum, micro.json) are skipped with a note.
Exit status: 0 on success, 2 on bad input (missing directory, no runs, unknown run).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from muxbench.plots import all_plots  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    all_plots.add_arguments(parser)
    return 0 if all_plots.plot_sweep(parser.parse_args(argv), "plot.py") else 2


if __name__ == "__main__":
    sys.exit(main())
