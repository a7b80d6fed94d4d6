"""The report's appendix on method: how the numbers were produced, from sweep.json and the
runs' own config blocks.
"""

from muxbench import facts
from muxbench import format as fmt


def method_items(sweep):
    """How the numbers were produced, from sweep.json and the runs' own config blocks."""
    cfgs = [r.config for r in sweep.complete_runs]
    meta = sweep.meta
    reps = meta.get("repetitions")
    items = [
        f"Each configuration (backend × clients × message size) was measured "
        f"{plural(reps, 'time')}; tables and plots show medians over these repetitions"
        + (" (a single run: no confidence intervals, no CV)." if reps == 1 else "."),
        f"Every run: {fmt.fmt_seconds(meta.get('warmup_s', first(cfgs, 'warmup_s')))} of "
        f"warm-up load (discarded), then "
        f"{fmt.fmt_seconds(meta.get('duration_s', first(cfgs, 'duration_s')))} measured.",
        order_item(sweep),
        pinning_item(cfgs),
        load_item(cfgs),
        "Confidence interval of the median: order-statistic (binomial) method, "
        f"distribution-free, the narrowest [x(k), x(n−k+1)] whose coverage reaches "
        f"{facts.MEDIAN_INTERVAL_CONFIDENCE:.0%}; with "
        "fewer than 6 repetitions none does, and the min–max range is shown with its real "
        "coverage (3 repetitions: 75%).",
        "Syscalls and context switches per request: counted over the measured window for the "
        f"server's whole process tree (every thread, io_uring's workers included; syscalls by "
        f"{distinct([r.results.get('kernel_counters', {}).get('server') or {} for r in sweep.complete_runs], 'syscalls_counted_by')}"
        ") and divided by the requests completed; nearly deterministic, so a quieter regression "
        "signal than req/s.",
    ]
    return items


def load_item(cfgs):
    """Closed loop (N × pipeline requests in flight) or open loop (a fixed arrival rate)."""
    text = f"Load: protocol {distinct(cfgs, 'protocol')} over loopback, "
    if any(c.get("load_model") == "open" for c in cfgs):
        return text + (f"open loop: requests sent on schedule at {distinct(cfgs, 'rate')} req/s "
                       f"({distinct(cfgs, 'arrival')} arrivals) whether or not replies came "
                       f"back; latency is measured from when each request was due.")
    return text + (f"closed loop: each of N clients keeps {distinct(cfgs, 'pipeline')} "
                   f"request(s) in flight and sends the next only when a reply arrives, so "
                   f"N × pipeline requests are in flight and throughput is what the server "
                   f"sustains at that concurrency.")


def pinning_item(cfgs):
    """Where server and load generator ran, and whether they could steal each other's CPU."""
    text = (f"Pinning: server on CPU(s) {distinct(cfgs, 'server_cpus')}, load generator on "
            f"CPU(s) {distinct(cfgs, 'client_cpus')} with {distinct(cfgs, 'loadgen_threads')} "
            f"thread(s)")
    shared = any(set(c.get("server_cpus") or []) & set(c.get("client_cpus") or []) for c in cfgs)
    if shared:
        return text + "; some runs shared CPUs between server and load generator."
    return text + "; the sets do not overlap, so client work does not compete with the server."


def order_item(sweep):
    seed = sweep.meta.get("seed")
    if seed is None:
        return "Run order: not recorded (no sweep.json); runs may not have been interleaved."
    return (f"Run order: randomised and interleaved across configurations (seed {seed} from "
            f"`sweep.json`), so slow drift of the machine spreads over all backends instead "
            f"of biasing one.")


def plural(n, word):
    if n is None:
        return f"? {word}s"
    return f"{n} {word}" + ("" if n == 1 else "s")


def first(cfgs, key):
    return next((c[key] for c in cfgs if key in c), None)


def distinct(cfgs, key):
    """The value of a config field across runs: '0' or '0, 1' when runs differ; '?' if absent."""
    seen = []
    for c in cfgs:
        v = c.get(key)
        text = ",".join(map(str, v)) if isinstance(v, list) else (None if v is None else str(v))
        if text is not None and text not in seen:
            seen.append(text)
    return " / ".join(seen) if seen else "?"
