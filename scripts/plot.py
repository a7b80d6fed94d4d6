#!/usr/bin/python3
"""Plots a muxbench sweep: writes DIR/plots/*.png and *.svg and prints the files written.

    scripts/plot.py DIR [--spectrum-clients N] [--timeline-run ID]

Plots: throughput, p99 latency, server CPU per request, and the server's syscalls and
context switches per request against the number of clients; the latency percentile spectrum at one client count;
for a rate sweep, latency against the achieved rate (scripts/plot_rates.py); with drawn server work,
the short requests' p99 against clients (scripts/plot_work_classes.py); the per-second timeline
of one run; and, when DIR/micro.json exists, the cost of one wait call against the
number of registered fds.  Every backend keeps one colour and marker in all of them.
Optional inputs (timeline, latency_spectrum, micro.json) are skipped with a note.
Exit status: 0 on success, 2 on bad input (missing directory, no runs, unknown run).
"""

import argparse
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from muxbench import format as fmt  # noqa: E402
from muxbench import registry  # noqa: E402
from muxbench import results as mr  # noqa: E402
from muxbench import stats  # noqa: E402

FIGSIZE = (8.0, 5.0)
DPI = 130
STYLE = {
    "axes.grid": True, "grid.alpha": 0.3, "grid.linestyle": "-",
    "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 11.5, "axes.labelsize": 10.5, "legend.fontsize": 9,
    "legend.frameon": False, "svg.fonttype": "none", "svg.hashsalt": "muxbench",
}
CI_NOTE = ("error bars: confidence interval of the median by order statistics (the range "
           "when n < 6), {coverage}")


@dataclass
class Plot:
    """One written figure: report.py embeds `png` and uses `title` as its caption."""

    stem: str
    title: str
    png: Path
    svg: Path


def main(argv=None):
    args = parse_args(argv)
    try:
        sweep = load(args.dir)
        plots, notes = make_plots(sweep, Path(args.dir) / "plots",
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
    from muxbench.plots import spectrum as plot_spectrum  # these build on this module's helpers (below)
    from muxbench.plots import timeline as plot_timeline
    with plt.rc_context(STYLE):
        closed_sizes = sorted({k[2] for k in sweep.groups()})
        if not closed_sizes:
            notes.append("no closed-loop run: the plots against clients and the spectrum are skipped")
        for size in closed_sizes:
            plots.append(plot_vs_clients(sweep, outdir, size, THROUGHPUT))
            plots.append(plot_vs_clients(sweep, outdir, size, P99))
            plots.append(plot_vs_clients(sweep, outdir, size, SERVER_CPU))
            for metric in (SERVER_SYSCALLS, SERVER_CS):
                plots.append(plot_if_measured(sweep, outdir, size, metric, notes))
            plots.append(plot_spectrum.plot_spectrum(sweep, outdir, size, spectrum_clients, notes))
        from muxbench.plots import rates as plot_rates  # here: it builds on this module's helpers
        for size, clients in plot_rates.rate_configurations(sweep):
            plots.append(plot_rates.plot_latency_vs_rate(sweep, outdir, size, clients))
        from muxbench.plots import work_classes as plot_work_classes  # --work-us drawn: short requests' p99
        plots += [plot_work_classes.plot_short_p99_vs_clients(sweep, outdir, size)
                  for size in plot_work_classes.sizes_with_classes(sweep)]
        plots.append(plot_timeline.plot_timeline(sweep, outdir, timeline_run, notes))
        plots.append(plot_timeline.plot_micro(sweep, outdir, notes))
    return [p for p in plots if p], notes


# ---------------------------------------------------------------------------- against clients


@dataclass
class Metric:
    """What a "vs clients" plot shows: which result, how its axis is labelled and scaled."""

    name: str
    stem: str
    heading: str
    ylabel: str
    ylog: bool
    tick: object


THROUGHPUT = Metric("throughput", "throughput", "Throughput vs concurrent clients",
                    "throughput (requests/s)", False, lambda v, _: fmt.fmt_count(v, 3, trim=True))
P99 = Metric("p99", "p99", "p99 latency vs concurrent clients", "p99 latency", True,
             lambda v, _: fmt.fmt_us(v, trim=True))
SERVER_CPU = Metric("server_us_per_req", "server-cpu", "Server CPU time per request",
                    "server CPU per request (µs)", True, lambda v, _: f"{v:g}")

SERVER_SYSCALLS = Metric("server_syscalls_per_req", "syscalls", "Syscalls per request (server)",
                         "server system calls per request", True, lambda v, _: f"{v:g}")
SERVER_CS = Metric("server_cs_per_req", "context-switches", "Context switches per request (server)",
                   "server context switches per request", True, lambda v, _: f"{v:g}")


def plot_if_measured(sweep, outdir, size, metric, notes):
    """plot_vs_clients, or a note when no run has the metric (older runs, --counters=off)."""
    runs = [r for r in sweep.complete_runs if r.message_size == size]
    if not mr.values(runs, metric.name):
        notes.append(f"{metric.heading.lower()} at {fmt.fmt_bytes(size)}: no run has "
                     "results.kernel_counters (older runs, or --counters=off); plot skipped")
        return None
    return plot_vs_clients(sweep, outdir, size, metric)


def plot_vs_clients(sweep, outdir, size, metric):
    """One line per backend: median over repetitions with its interval as error bars, log x."""
    groups = {k: runs for k, runs in sweep.groups().items() if k[2] == size}
    backends = registry.sort_backends({k[0] for k in groups})
    fig, ax = new_figure()
    drawn = []
    for i, backend in enumerate(backends):
        points = sorted(((k[1], stats.median_ci(mr.values(runs, metric.name)))
                         for k, runs in groups.items() if k[0] == backend), key=lambda p: p[0])
        points = [(c, ci) for c, ci in points if ci]
        if not points:
            continue
        drawn += [ci for _, ci in points]
        shift = 10 ** ((i - (len(backends) - 1) / 2) * 0.012)  # dodge so error bars stay apart
        ax.errorbar([c * shift for c, _ in points], [ci.median for _, ci in points],
                    yerr=[[ci.median - ci.low for _, ci in points],
                          [ci.high - ci.median for _, ci in points]],
                    label=backend, capsize=3, **backend_style(backend))
    clients_axis(ax, sorted({k[1] for k in groups}))
    ax.set_ylabel(metric.ylabel)
    if metric.ylog:
        ax.set_yscale("log")
        readable_log_ticks(ax.yaxis, metric.tick)
    else:
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(metric.tick))
    ax.legend(title="backend")
    title = f"{metric.heading} — {fmt_size_duration(sweep, size)}"
    finish(fig, ax, sweep, title, CI_NOTE.format(coverage=stats.coverage_note(drawn)))
    return save(fig, outdir, f"{metric.stem}-m{size}", title)


def clients_axis(ax, clients):
    """Log x axis ticked at exactly the client counts measured, printed as plain numbers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(clients))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())
    if clients:
        ax.set_xlim(clients[0] / 1.6, clients[-1] * 1.6)
    ax.set_xlabel("concurrent clients (connections, 1 request in flight each)")


def readable_log_ticks(axis, formatter):
    """Log-axis ticks at round values with unit-aware labels instead of 10^n notation.

    Picks the finest set of mantissas that gives at most 8 ticks in the visible range, so
    a narrow range (3-6 µs) still gets several labels and a wide one stays uncluttered.
    """
    ax = axis.axes
    lo, hi = ax.get_ylim() if axis is ax.yaxis else ax.get_xlim()
    for mantissas in ((1, 1.5, 2, 3, 4, 5, 6, 7, 8), (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** e for e in range(-4, 11) for m in mantissas
                 if lo <= m * 10.0 ** e <= hi]
        if len(ticks) <= 8:
            break
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(formatter))
    axis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------------- common


def backend_style(backend):
    """Colour and marker of a backend: the same in every plot."""
    return dict(color=registry.backend_color(backend), marker=registry.backend_marker(backend),
                markersize=6, linewidth=1.8)


def new_figure():
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    return fig, ax


def fmt_size_duration(sweep, size):
    """'128 B messages, 10 s runs after 2 s warm-up, 3 repetitions' for plot titles."""
    runs = [r for r in sweep.complete_runs if r.message_size == size]
    cfg = runs[0].config if runs else {}
    duration = sweep.meta.get("duration_s", cfg.get("duration_s"))
    warmup = sweep.meta.get("warmup_s", cfg.get("warmup_s"))
    reps = sweep.meta.get("repetitions")
    text = f"{fmt.fmt_bytes(size)} messages, {fmt.fmt_seconds(duration)} runs"
    if warmup:
        text += f" after {fmt.fmt_seconds(warmup)} warm-up"
    if reps:
        text += f", {reps} repetition{'s' if reps != 1 else ''}"
    return text


def finish(fig, ax, sweep, title, subtitle):
    """Title (wrapped if long), a small subtitle, and the environment footer."""
    subtitle = textwrap.fill(subtitle or "", 115)
    ax.set_title(title if len(title) < 80 else title.replace(" — ", "\n"), loc="left",
                 pad=6 + 10 * (subtitle.count("\n") + 1) if subtitle else 6)
    if subtitle:
        ax.text(0, 1.01, subtitle, transform=ax.transAxes, va="bottom", fontsize=8,
                color="#555555")
    fig.text(0.01, 0.012, fmt.environment_line(sweep.environment), fontsize=7, color="#666666")
    fig.tight_layout(rect=(0, 0.035, 1, 1))


def save(fig, outdir, stem, title):
    """Writes stem.png and stem.svg (SVG without a date, so re-runs give identical files)."""
    png, svg = outdir / f"{stem}.png", outdir / f"{stem}.svg"
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return Plot(stem, title, png, svg)


if __name__ == "__main__":
    sys.exit(main())
