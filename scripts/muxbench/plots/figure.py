"""What every figure of scripts/plot.py shares: its size and style, a backend's colour and marker,
the title with its subtitle and the environment footer, readable log ticks, and writing the PNG
and SVG. The plot kinds (clients, spectrum, rates, work_classes, timeline) build on this module;
it imports none of them.
"""

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402

from muxbench import format as fmt  # noqa: E402
from muxbench import registry  # noqa: E402

FIGSIZE = (8.0, 5.0)
DPI = 130
STYLE = {
    "axes.grid": True, "grid.alpha": 0.3, "grid.linestyle": "-",
    "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 11.5, "axes.labelsize": 10.5, "legend.fontsize": 9,
    "legend.frameon": False, "svg.fonttype": "none", "svg.hashsalt": "muxbench",
}


@dataclass
class Plot:
    """One written figure: report.py embeds `png` and uses `title` as its caption."""

    stem: str
    title: str
    png: Path
    svg: Path


def style():
    """The style every figure is drawn in (a matplotlib rc context)."""
    return plt.rc_context(STYLE)


def backend_style(backend):
    """Colour and marker of a backend: the same in every plot."""
    return dict(color=registry.backend_color(backend), marker=registry.backend_marker(backend),
                markersize=6, linewidth=1.8)


def new_figure(ncols=1, width=1.0, **subplots):
    """A figure of the common size (`width` times as wide) with `ncols` axes side by side."""
    fig, ax = plt.subplots(1, ncols, figsize=(FIGSIZE[0] * width, FIGSIZE[1]), dpi=DPI, **subplots)
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
    environment_footer(fig, sweep)
    fig.tight_layout(rect=(0, 0.035, 1, 1))


def environment_footer(fig, sweep):
    """The machine and build, small, at the bottom left of the figure."""
    fig.text(0.01, 0.012, fmt.environment_line(sweep.environment), fontsize=7, color="#666666")


def save(fig, outdir, stem, title):
    """Writes stem.png and stem.svg (SVG without a date, so re-runs give identical files)."""
    png, svg = outdir / f"{stem}.png", outdir / f"{stem}.svg"
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return Plot(stem, title, png, svg)


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


def counts_x_axis(ax, ticks):
    """A log x axis ticked at exactly `ticks` (the client or fd counts measured), as plain numbers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())


def latency_ticks(axis):
    """readable_log_ticks labelled as latencies (125 µs, 4.7 ms)."""
    readable_log_ticks(axis, lambda v, _: fmt.fmt_us(v, trim=True))
