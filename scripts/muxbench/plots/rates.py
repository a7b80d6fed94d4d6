"""The latency-load plot of a rate sweep (`bench sweep --rates=...`): corrected p50, p99 and
p99.9 against the achieved rate, one line per backend, log latency axis.

The knee (muxbench.stats.latency_knee: the highest rate whose p99 is at most
KNEE_P99_FACTOR times the p99 at the lowest rate) is marked with a star. Points where a
repetition achieved less than 95% of its target rate are drawn hollow: the server fell behind
its schedule, and the latency shown understates what the offered load would cost.
"""

from matplotlib.ticker import FuncFormatter

from muxbench import facts
from muxbench import format as fmt
from muxbench import registry
from muxbench import stats
from muxbench.plots import figure

PERCENTILES = (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))


def rate_configurations(sweep):
    """[(size, clients)] that have open-loop runs, in order."""
    return sorted({(k[2], k[1]) for k in sweep.rate_groups()})


def plot_latency_vs_rate(sweep, outdir, size, clients):
    groups = {k: runs for k, runs in sweep.rate_groups().items() if k[2] == size and k[1] == clients}
    backends = registry.sort_backends({k[0] for k in groups})
    fig, axes = figure.new_figure(len(PERCENTILES), width=1.6, sharey=True)
    for backend in backends:
        points = stats.rate_points({k[3]: runs for k, runs in groups.items() if k[0] == backend})
        knee = stats.latency_knee(points)
        style = figure.backend_style(backend)
        for ax, (field, _) in zip(axes, PERCENTILES):
            xs = [p.achieved for p in points]
            ys = [getattr(p, field) for p in points]
            ax.plot(xs, ys, label=backend, **{**style, "marker": None})
            full = [(x, y) for p, x, y in zip(points, xs, ys) if p.short_runs == 0]
            short = [(x, y) for p, x, y in zip(points, xs, ys) if p.short_runs > 0]
            if full:
                ax.plot(*zip(*full), linestyle="none", marker=style["marker"], color=style["color"],
                        markersize=style["markersize"])
            if short:
                ax.plot(*zip(*short), linestyle="none", marker=style["marker"], color=style["color"],
                        markersize=style["markersize"], markerfacecolor="none")
            if knee is not None:
                ax.plot([knee.achieved], [getattr(knee, field)], linestyle="none", marker="*",
                        markersize=14, color=style["color"], markeredgecolor="black", markeredgewidth=0.6)
    for ax, (_, name) in zip(axes, PERCENTILES):
        ax.set_yscale("log")
        ax.set_title(f"corrected {name}", fontsize=10)
        ax.set_xlabel("achieved rate (requests/s)")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.fmt_count(v, 3, trim=True)))
        ax.set_xlim(left=0)
    axes[0].set_ylabel("latency (from each request's scheduled send time)")
    figure.latency_ticks(axes[0].yaxis)
    axes[-1].legend(title="backend")
    title = (f"Latency against offered load — {clients:,} clients, "
             f"{figure.fmt_size_duration(sweep, size)}")
    subtitle = (f"medians over repetitions; ★ knee: highest rate with p99 ≤ {stats.KNEE_P99_FACTOR:g}× "
                f"the p99 at the lowest rate; hollow: a repetition achieved < "
                f"{100 * (1 - facts.ACHIEVED_RATE_TOLERANCE):.0f}% of its target rate")
    fig.suptitle(title, x=0.01, y=0.985, ha="left", fontsize=11.5)
    fig.text(0.01, 0.905, subtitle, fontsize=8, color="#555555")
    figure.environment_footer(fig, sweep)
    fig.tight_layout(rect=(0, 0.035, 1, 0.89))
    return figure.save(fig, outdir, f"latency-vs-rate-m{size}-c{clients}", title)
