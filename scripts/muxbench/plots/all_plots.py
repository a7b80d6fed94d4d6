"""Every plot a sweep allows, as scripts/plot.py writes them and scripts/report.py embeds them:
this module imports the plot kinds and draws each where the data has what it needs.
"""

import sys
from pathlib import Path

from muxbench import results as mr
from muxbench.plots import clients, figure, rates, spectrum, timeline, work_classes


def load(directory):
    """load_sweep, and insist on at least one complete run: nothing to plot otherwise."""
    sweep = mr.load_sweep(directory)
    if not sweep.complete_runs:
        raise mr.InputError(f"{directory}: no complete runs "
                            f"({len(sweep.runs)} planned, none finished)")
    return sweep


def make_plots(sweep, outdir, spectrum_clients=None, timeline_run=None):
    """Draws every plot the data allows; returns ([Plot], [note about what was skipped]).

    Raises InputError when an explicitly requested client count or run does not exist.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    plots, notes = [], []
    with figure.style():
        closed_sizes = sorted({k[2] for k in sweep.groups()})
        if not closed_sizes:
            notes.append("no closed-loop run: the plots against clients and the spectrum are skipped")
        for size in closed_sizes:
            plots += clients.plot_size(sweep, outdir, size, notes)
            plots.append(spectrum.plot_spectrum(sweep, outdir, size, spectrum_clients, notes))
        for size, count in rates.rate_configurations(sweep):
            plots.append(rates.plot_latency_vs_rate(sweep, outdir, size, count))
        plots += [work_classes.plot_short_p99_vs_clients(sweep, outdir, size)
                  for size in work_classes.sizes_with_classes(sweep)]  # --work-us drawn
        plots.append(timeline.plot_timeline(sweep, outdir, timeline_run, notes))
        plots.append(timeline.plot_micro(sweep, outdir, notes))
    return [p for p in plots if p], notes


def add_arguments(parser):
    """The arguments of every script that draws a sweep's plots (plot.py, report.py)."""
    parser.add_argument("dir", help="sweep directory (from `bench sweep --out=DIR`)")
    parser.add_argument("--spectrum-clients", type=int, metavar="N",
                        help="client count for the latency spectrum "
                             "(default: the largest one every backend has)")
    parser.add_argument("--timeline-run", metavar="ID",
                        help="run id for the timeline (default: first complete run "
                             "at the largest client count)")


def plot_sweep(args, prog):
    """Loads the sweep args.dir names and draws its plots into DIR/plots, printing the notes and
    the files; returns (sweep, plots, notes), or None after one line on stderr for bad input."""
    try:
        sweep = load(args.dir)
        plots, notes = make_plots(sweep, Path(args.dir) / "plots", args.spectrum_clients, args.timeline_run)
    except mr.InputError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None
    for note in notes:
        print(f"note: {note}")
    for p in plots:
        print(p.png)
        print(p.svg)
    return sweep, plots, notes
