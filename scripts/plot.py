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
from muxbench import results as mr  # noqa: E402
from muxbench.plots import all_plots  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    try:
        sweep = all_plots.load(args.dir)
        plots, notes = all_plots.make_plots(sweep, Path(args.dir) / "plots",
                                            args.spectrum_clients, args.timeline_run)
    except mr.InputError as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}")
    for p in plots:
        print(p.png)
        print(p.svg)
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="sweep directory (from `bench sweep --out=DIR`)")
    parser.add_argument("--spectrum-clients", type=int, metavar="N",
                        help="client count for the latency spectrum "
                             "(default: the largest one every backend has)")
    parser.add_argument("--timeline-run", metavar="ID",
                        help="run id for the timeline (default: first complete run "
                             "at the largest client count)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
