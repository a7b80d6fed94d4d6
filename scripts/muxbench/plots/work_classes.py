"""The short requests' p99 against clients, one line per backend, when the server's work was
drawn per request (`bench --work-us=bimodal:0.9:0:2000`, results.latency_by_work_class).

"Short" requests drew work at or below the distribution's median, "long" ones above it (the
load generator knows each request's class from the bytes it sent). With a few long requests
among many short ones, the short requests' tail shows how much an I/O model lets a long
request hold up the short ones queued behind it (head-of-line blocking): thread per client
keeps them apart, a single event loop does not. The long requests' p99 is drawn dashed.
"""

from statistics import median

from matplotlib.ticker import FuncFormatter

from muxbench import format as fmt
from muxbench import registry
from muxbench import results as mr
from muxbench.plots import figure


def sizes_with_classes(sweep):
    """Message sizes whose closed-loop runs have results.latency_by_work_class, in order."""
    return sorted({k[2] for k, runs in sweep.groups().items() if mr.values(runs, "short_p99")})


def plot_short_p99_vs_clients(sweep, outdir, size):
    groups = {k: runs for k, runs in sweep.groups().items() if k[2] == size and mr.values(runs, "short_p99")}
    fig, ax = figure.new_figure()
    for backend in registry.sort_backends({k[0] for k in groups}):
        keys = sorted((k for k in groups if k[0] == backend), key=lambda k: k[1])
        clients = [k[1] for k in keys]
        style = figure.backend_style(backend)
        ax.plot(clients, [median(mr.values(groups[k], "short_p99")) for k in keys], label=f"{backend} short", **style)
        longs = [(k[1], mr.values(groups[k], "long_p99")) for k in keys]
        longs = [(c, median(v)) for c, v in longs if v]
        if longs:
            ax.plot(*zip(*longs), label=f"{backend} long", **{**style, "linestyle": "--", "alpha": 0.5})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("p99 latency")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.fmt_count(v, 3, trim=True)))
    figure.latency_ticks(ax.yaxis)
    ax.legend(title="backend, requests", fontsize=8)
    spec = next((r.config.get("server_work_spec") for runs in groups.values() for r in runs), None)
    what = figure.fmt_size_duration(sweep, size)
    if size == 0:  # drawn sizes: config.message_size is null, and the spec says what was drawn
        drawn = next((r.config.get("message_size_spec") for runs in groups.values() for r in runs), None)
        what = what.replace(f"{fmt.fmt_bytes(0)} messages", f"{drawn or 'drawn'} B messages", 1)
    title = f"p99 of short requests vs clients — {what}"
    figure.finish(fig, ax, sweep, title,
             f"server work {spec or '(drawn)'} µs per request; short: at or below the median work, "
             "solid; long: above it, dashed; medians over repetitions")
    return figure.save(fig, outdir, f"short-p99-m{size}", title)
