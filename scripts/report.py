#!/usr/bin/python3
"""Writes DIR/report.md and a self-contained DIR/report.html for a muxbench sweep.

    scripts/report.py DIR [--spectrum-clients N] [--timeline-run ID]

Draws the plots (plot.py) and puts them next to a summary table, the method, the
environment and the caveats a reader needs before trusting a number: runs limited by
the load generator, runs with errors, failed runs and noisy configurations.  The HTML
embeds the plots as base64 PNG and loads nothing from elsewhere, so it can be mailed
or attached to a CI run as one file.
Exit status: 0 on success, 2 on bad input (missing directory, no runs).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from muxbench import results as mr  # noqa: E402
from muxbench.plots import all_plots  # noqa: E402
from muxbench.report import content, render  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    try:
        sweep = all_plots.load(args.dir)
        plots, notes = all_plots.make_plots(sweep, Path(args.dir) / "plots",
                                            args.spectrum_clients, args.timeline_run)
    except mr.InputError as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    md, page = render.write_report(content.build_report(sweep, plots, notes), Path(args.dir))
    for note in notes:
        print(f"note: {note}")
    for p in plots:
        print(p.png)
        print(p.svg)
    print(md)
    print(page)
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="sweep directory (from `bench sweep --out=DIR`)")
    parser.add_argument("--spectrum-clients", type=int, metavar="N",
                        help="client count for the latency spectrum plot")
    parser.add_argument("--timeline-run", metavar="ID", help="run id for the timeline plot")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
