"""scripts/plot.py's plots of one run and of the micro-benchmarks: the per-second timeline of
one run, and the cost of one wait call against the number of registered fds.
"""

from matplotlib.ticker import FuncFormatter

from muxbench import format as fmt
from muxbench import registry
from muxbench import results as mr
from muxbench.plots import figure


def plot_timeline(sweep, outdir, run_id, notes):
    """Per-second throughput (left axis) and p99 (right axis) of one run: shows drift and stalls."""
    run = choose_timeline_run(sweep, run_id)
    points = mr.timeline(run)
    if not points:
        notes.append(f"timeline: run {run.id} has no results.timeline; plot skipped")
        return None
    fig, ax = figure.new_figure()
    t = [p["t_s"] for p in points]
    color = registry.backend_color(run.backend)
    ax.plot(t, [p["throughput_rps"] for p in points], color=color, linewidth=1.8,
            marker=registry.backend_marker(run.backend), markersize=3.5, label="throughput")
    ax.set_ylim(bottom=0, top=max(p["throughput_rps"] for p in points) * 1.15)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.fmt_count(v, 3, trim=True)))
    ax.set_ylabel("throughput (requests/s)", color=color)
    ax.set_xlabel("time since measurement start (s; each point ends a 1-second interval)")
    ax.set_xlim(0, max(t) * 1.02)
    right = draw_timeline_latency(ax, points)
    mark_error_intervals(ax, points)
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="lower left")
    title = f"Timeline of run {run.id} — {fmt.fmt_bytes(run.message_size)} messages"
    subtitle = f"{run.backend}, {run.clients:,} clients, repetition {run.repetition}"
    figure.finish(fig, ax, sweep, title, subtitle)
    return figure.save(fig, outdir, f"timeline-{run.id}", title)


def choose_timeline_run(sweep, run_id):
    """The requested run (must be complete), else the first complete run at the most clients."""
    if run_id:
        run = sweep.find_run(run_id)
        if run is None:
            raise mr.InputError(f"--timeline-run={run_id}: no such run in {sweep.path}/sweep.json")
        if not run.ok:
            raise mr.InputError(f"--timeline-run={run_id}: run is not complete "
                                f"({run.why_not_ok()})")
        return run
    most = max(r.clients for r in sweep.complete_runs)
    return min((r for r in sweep.complete_runs if r.clients == most), key=lambda r: r.order)


def draw_timeline_latency(ax, points):
    """p99 per interval on a twin (right) axis; returns that axis."""
    right = ax.twinx()
    right.grid(False)
    right.spines["right"].set_visible(True)
    right.plot([p["t_s"] for p in points], [p["p99_us"] for p in points], color="#333333",
               linestyle="--", linewidth=1.4, label="p99 latency")
    right.set_ylim(bottom=0, top=max(p["p99_us"] for p in points) * 1.3)
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.fmt_us(v, trim=True)))
    right.set_ylabel("p99 latency per interval")
    return right


def mark_error_intervals(ax, points):
    """Shades the seconds in which requests failed, so errors line up with dips."""
    prev, labelled = 0.0, False
    for p in points:
        if p.get("errors"):
            ax.axvspan(prev, p["t_s"], color="#d62728", alpha=0.15,
                       label=None if labelled else "interval with errors")
            labelled = True
        prev = p["t_s"]


# ---------------------------------------------------------------------------- micro


def plot_micro(sweep, outdir, notes):
    """Cost of one wait call (select/poll/epoll_wait/io_uring) vs registered fds, log-log."""
    micro = mr.load_micro(sweep.path)
    if micro is None:
        notes.append("micro-benchmarks: no micro.json in the sweep directory; plot skipped")
        return None
    if not micro:
        notes.append("micro-benchmarks: micro.json has no BM_Wait* entries; plot skipped")
        return None
    fig, ax = figure.new_figure()
    fds = sorted({n for pts in micro.values() for n, _ in pts})
    for mech in registry.sort_backends(set(micro)):
        pts = micro[mech]
        ax.plot([n for n, _ in pts], [ns / 1e3 for _, ns in pts], label=mech,
                **figure.backend_style(mech))
    figure.counts_x_axis(ax, fds)
    ax.set_yscale("log")
    ax.set_xlabel("registered file descriptors (one of them ready)")
    ax.set_ylabel("time per wait call")
    figure.latency_ticks(ax.yaxis)
    ax.legend(title="mechanism")
    title = "Wait-call cost vs number of watched fds (micro-benchmark)"
    figure.finish(fig, ax, sweep, title,
           "Google Benchmark real time per call; median aggregate if repeated")
    return figure.save(fig, outdir, "micro-wait-cost", title)
