"""scripts/plot.py's latency percentile spectrum: latency by percentile for each backend at one
client count, on HdrHistogram's 1/(1-p) axis.
"""

from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from muxbench import format as fmt
from muxbench import registry
from muxbench import results as mr
from muxbench.plots import figure


# HdrHistogram-style x axis: position 1/(1-p), labelled by percentile.
SPECTRUM_TICKS = [(2.0, "50%")] + [
    (10.0 ** k, f"{100 - 10.0 ** (2 - k):.8f}".rstrip("0").rstrip(".") + "%") for k in range(1, 9)]


def plot_spectrum(sweep, outdir, size, clients, notes):
    """Latency by percentile for each backend at one client count, HdrHistogram-style."""
    groups = {k: runs for k, runs in sweep.groups().items() if k[2] == size}
    clients = choose_spectrum_clients(groups, clients, size, notes)
    curves, coarse = [], []
    for backend in registry.sort_backends({k[0] for k in groups if k[1] == clients}):
        runs = groups[(backend, clients, size)]
        bold = representative(runs)
        for run in runs:
            pct, vals, exact = mr.latency_spectrum(run)
            if not exact and backend not in coarse:
                coarse.append(backend)
            curves.append((backend, pct, vals, exact, run is bold))
    fig, ax = figure.new_figure()
    max_x = draw_spectra(ax, curves)
    spectrum_axis(ax, max_x)
    ax.legend(title="backend", loc="upper left")
    notes_line = []
    if any(len(runs) > 1 for k, runs in groups.items() if k[1] == clients):
        notes_line.append("bold: the repetition with the median p99, thin: the others")
    if coarse:
        notes_line.append("dashed: summary percentiles only (no latency_spectrum)")
        notes.append(f"latency spectrum at {fmt.fmt_bytes(size)}: {', '.join(coarse)} lack "
                     f"results.latency_spectrum; "
                     "plotted p50..p99.99 and max from latency_us")
    note = "; ".join(notes_line)
    title = (f"Latency percentile spectrum at {clients:,} clients — "
             f"{figure.fmt_size_duration(sweep, size)}")
    figure.finish(fig, ax, sweep, title, note)
    return figure.save(fig, outdir, f"spectrum-c{clients}-m{size}", title)


def choose_spectrum_clients(groups, requested, size, notes):
    """The requested client count, else the largest one every backend measured."""
    available = sorted({k[1] for k in groups})
    if requested is not None:
        if requested not in available:
            raise mr.InputError(f"--spectrum-clients={requested}: no complete run with that many "
                                f"clients at {size} B (have: {', '.join(map(str, available))})")
        return requested
    backends = {k[0] for k in groups}
    common = [c for c in available if all((b, c, size) in groups for b in backends)]
    if not common:
        notes.append(f"no client count has every backend at {size} B; spectrum at the largest")
        return available[-1]
    return common[-1]


def representative(runs):
    """The repetition whose p99 is the median one: the curve drawn bold."""
    ranked = sorted(runs, key=lambda r: mr.metric(r, "p99") or 0.0)
    return ranked[(len(ranked) - 1) // 2]


def draw_spectra(ax, curves):
    """Draws every curve at x = 1/(1-p); returns the x where all maxima (p = 100) are put.

    The maximum has no finite position on this axis, so all curves share one column a
    decade right of the highest finite percentile, labelled "max".
    """
    finite = [1.0 / (1.0 - p / 100.0) for _, pct, _, _, _ in curves for p in pct if p < 100.0]
    max_x = 10.0 * max(finite, default=1e3)
    for backend, pct, vals, exact, bold in curves:
        xs = [max_x if p >= 100.0 else 1.0 / (1.0 - p / 100.0) for p in pct]
        style = dict(color=registry.backend_color(backend), linestyle="-" if exact else "--",
                     linewidth=2.0 if bold else 0.8, alpha=1.0 if bold else 0.45)
        if not exact:
            style.update(marker=registry.backend_marker(backend), markersize=5 if bold else 3)
        ax.plot(xs, vals, label=backend if bold else None, **style)
    return max_x


def spectrum_axis(ax, max_x):
    """x: 1/(1-p) on a log scale labelled 50%…99.999% and "max"; y: latency, log scale."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = {x: label for x, label in SPECTRUM_TICKS if x <= max_x / 3}  # keep "max" apart
    ticks[max_x] = "max"
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: ticks.get(v, "")))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(1.0, max_x * 1.5)
    ax.set_xlabel("percentile (HdrHistogram scale: each step right is 10× rarer)")
    ax.set_ylabel("latency")
    figure.latency_ticks(ax.yaxis)
