"""scripts/plot.py's plots against the number of clients: one line per backend, the median over
repetitions with its confidence interval as error bars, on a log axis ticked at the client
counts measured (throughput, p99, server CPU, the server's syscalls and context switches per
request).
"""

from dataclasses import dataclass

from matplotlib.ticker import FuncFormatter

from muxbench import format as fmt
from muxbench import registry
from muxbench import results as mr
from muxbench import stats
from muxbench.plots import figure

CI_NOTE = ("error bars: confidence interval of the median by order statistics (the range "
           "when n < 6), {coverage}")


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
ALWAYS = (THROUGHPUT, P99, SERVER_CPU)
IF_COUNTED = (SERVER_SYSCALLS, SERVER_CS)  # results.kernel_counters: absent from older runs


def plot_size(sweep, outdir, size, notes):
    """Every plot against clients at one message size; a note for each metric no run has."""
    plots = [plot_vs_clients(sweep, outdir, size, metric) for metric in ALWAYS]
    return plots + [plot_if_measured(sweep, outdir, size, metric, notes) for metric in IF_COUNTED]


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
    fig, ax = figure.new_figure()
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
                    label=backend, capsize=3, **figure.backend_style(backend))
    clients_axis(ax, sorted({k[1] for k in groups}))
    ax.set_ylabel(metric.ylabel)
    if metric.ylog:
        ax.set_yscale("log")
        figure.readable_log_ticks(ax.yaxis, metric.tick)
    else:
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(metric.tick))
    ax.legend(title="backend")
    title = f"{metric.heading} — {figure.fmt_size_duration(sweep, size)}"
    figure.finish(fig, ax, sweep, title, CI_NOTE.format(coverage=stats.coverage_note(drawn)))
    return figure.save(fig, outdir, f"{metric.stem}-m{size}", title)


def clients_axis(ax, clients):
    """Log x axis ticked at exactly the client counts measured, printed as plain numbers."""
    figure.counts_x_axis(ax, clients)
    if clients:
        ax.set_xlim(clients[0] / 1.6, clients[-1] * 1.6)
    ax.set_xlabel("concurrent clients (connections, 1 request in flight each)")
