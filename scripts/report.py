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
from muxbench.plots import all_plots  # noqa: E402
from muxbench.report import content, render  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    all_plots.add_arguments(parser)
    args = parser.parse_args(argv)
    plotted = all_plots.plot_sweep(args, "report.py")
    if not plotted:
        return 2
    md, page = render.write_report(content.build_report(*plotted), Path(args.dir))
    print(md)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
