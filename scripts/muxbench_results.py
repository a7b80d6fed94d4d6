#!/usr/bin/python3
"""Shared loading, statistics and formatting for muxbench's Python reporting.

plot.py, report.py and compare.py all read the same sweep directories and must agree
on what a "configuration", a "complete run" and a "median with its confidence interval"
are; keeping that here means the three scripts cannot drift apart.

A sweep directory (written by `bench sweep --out=DIR`) holds DIR/sweep.json, which
lists every planned run, and DIR/runs/<id>.json, one single-run JSON per run.  A
directory without sweep.json but with single-run JSON files (DIR/runs/*.json or
DIR/*.json, e.g. from `bench --json`) is accepted too, as one repetition each.
"""

import functools
import json
import math
import os
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# The backends, their order and their variants come from the registry, through
# `bench --list-backends --json` (no backend name is written here). Colours and markers go by
# position: base backends in registry order take BASE_COLORS, variants VARIANT_COLORS, so a
# backend looks the same in every plot and table as long as the registry keeps its order.
BASE_COLORS = ("#7f7f7f", "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#17becf")
VARIANT_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173")
MARKERS = ("s", "v", "^", "o", "D", "P", "X", "*", "h", "<", ">", "p")


def find_bench():
    """The bench binary: $MUXBENCH_BENCH, else a build in this checkout; None when there is none."""
    root = Path(__file__).resolve().parent.parent
    for candidate in (os.environ.get("MUXBENCH_BENCH"), root / "build" / "bench", root / "build-test" / "bench"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@functools.lru_cache(maxsize=None)
def registry():
    """[{name, base, model, ...}] from `bench --list-backends --json`; None without a bench binary."""
    bench = find_bench()
    if bench is None:
        return None
    try:
        out = subprocess.run([bench, "--list-backends", "--json"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def backend_order(names=()):
    """Registry order when a bench binary is found; else the names given, alphabetically."""
    entries = registry()
    if entries is not None:
        return tuple(e["name"] for e in entries)
    return tuple(sorted(names))


# A run whose load generator is this busy while the server is not measured the client.
SATURATION_UTILIZATION = 0.9
# Configurations whose throughput varies more than this between repetitions are flagged.
HIGH_CV_PCT = 10.0
CONFIDENCE = 0.95


class InputError(Exception):
    """Bad input a user can fix (missing directory, no runs): scripts exit 2 with the message."""


@dataclass
class Run:
    """One planned run of a sweep; `data` is its single-run JSON when the file could be read."""

    id: str
    backend: str
    clients: int
    message_size: int
    repetition: int = 0
    order: int = 0
    status: str = "complete"
    error: str = ""
    data: dict = None

    @property
    def key(self):
        """The configuration this run measures; repetitions of it share the key."""
        return (self.backend, self.clients, self.message_size)

    @property
    def ok(self):
        """True when the run finished and its JSON says the measurement is complete."""
        return self.status == "complete" and bool(self.data) and self.data.get("complete", True)

    @property
    def results(self):
        return (self.data or {}).get("results", {})

    @property
    def config(self):
        return (self.data or {}).get("config", {})

    @property
    def environment(self):
        return (self.data or {}).get("environment", {})

    def why_not_ok(self):
        """A short human reason this run is excluded from statistics ('' when it is not)."""
        if self.status != "complete":
            return f"{self.status}" + (f": {self.error}" if self.error else "")
        if not self.data:
            return self.error or "result file missing"
        if not self.data.get("complete", True):
            return "incomplete: " + str(self.data.get("incomplete_reason", "no reason given"))
        return ""


@dataclass
class Sweep:
    """A loaded sweep: its metadata (sweep.json) and all runs, complete or not."""

    path: Path
    meta: dict
    runs: list = field(default_factory=list)

    @property
    def complete_runs(self):
        return [r for r in self.runs if r.ok]

    @property
    def environment(self):
        """sweep.json's environment, else the first complete run's (they describe one machine)."""
        env = self.meta.get("environment") or {}
        if env:
            return env
        return next((r.environment for r in self.complete_runs if r.environment), {})

    def groups(self):
        """Complete runs grouped by configuration, in a stable order (backend, clients, size)."""
        out = {}
        for run in sorted(self.complete_runs, key=lambda r: (config_sort_key(r.key), r.repetition)):
            out.setdefault(run.key, []).append(run)
        return out

    def message_sizes(self):
        return sorted({r.message_size for r in self.complete_runs})

    def backends(self):
        return sort_backends({r.backend for r in self.complete_runs})

    def clients(self):
        return sorted({r.clients for r in self.complete_runs})

    def find_run(self, run_id):
        return next((r for r in self.runs if r.id == run_id), None)


# ---------------------------------------------------------------------------- loading


def read_json(path):
    """Parses a JSON file, turning I/O and syntax problems into InputError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from e


def load_sweep(directory):
    """Loads a sweep directory; raises InputError when it is missing or holds no runs at all."""
    path = Path(directory)
    if not path.is_dir():
        raise InputError(f"{directory}: no such directory")
    if (path / "sweep.json").is_file():
        sweep = _load_planned_sweep(path)
    else:
        sweep = _load_loose_runs(path)
    if not sweep.runs:
        raise InputError(f"{directory}: no runs (expected sweep.json or runs/*.json)")
    return sweep


def _load_planned_sweep(path):
    """Reads sweep.json and each listed run file; a missing or broken file fails that run only."""
    meta = read_json(path / "sweep.json")
    runs = []
    for entry in meta.get("runs", []):
        run = Run(
            id=entry.get("id", ""),
            backend=entry.get("backend", "?"),
            clients=int(entry.get("clients", 0)),
            message_size=int(entry.get("message_size", 0)),
            repetition=int(entry.get("repetition", 0)),
            order=int(entry.get("order", 0)),
            status=entry.get("status", "complete"),
            error=entry.get("error", ""),
        )
        if run.status == "complete":
            _attach_data(run, path / entry.get("file", f"runs/{run.id}.json"))
        runs.append(run)
    return Sweep(path=path, meta=meta, runs=runs)


def _attach_data(run, file):
    """Loads a run's JSON into run.data; an unreadable file makes the run 'failed', not fatal."""
    try:
        run.data = read_json(file)
    except InputError as e:
        run.status, run.error = "failed", str(e)


def _load_loose_runs(path):
    """Treats every single-run JSON in DIR/runs or DIR as one run (for ad-hoc `bench --json`)."""
    files = sorted(path.glob("runs/*.json")) or sorted(path.glob("*.json"))
    runs, seen = [], {}
    for file in files:
        data = read_json(file)
        if not isinstance(data, dict) or "config" not in data or "results" not in data:
            continue
        cfg = data["config"]
        key = (cfg.get("backend", "?"), int(cfg.get("clients", 0)), int(cfg.get("message_size", 0)))
        rep = seen[key] = seen.get(key, -1) + 1
        runs.append(Run(id=file.stem, backend=key[0], clients=key[1], message_size=key[2],
                        repetition=rep, order=len(runs), data=data))
    first = runs[0].config if runs else {}
    meta = {"repetitions": max(seen.values()) + 1 if seen else 0,
            "duration_s": first.get("duration_s"), "warmup_s": first.get("warmup_s")}
    return Sweep(path=path, meta=meta, runs=runs)


def load_micro(directory):
    """Reads DIR/micro.json (Google Benchmark) into {mechanism: [(fds, ns_per_call), ...]}.

    Returns None when the file is absent.  Prefers the 'median' aggregate when the
    benchmark was repeated; otherwise averages the plain iterations per name.
    """
    file = Path(directory) / "micro.json"
    if not file.is_file():
        return None
    pattern = re.compile(r"^BM_Wait(\w+?)/(\d+)")
    # BM_WaitIoUring -> "iouring" -> the registry's "io_uring"
    names = {n.replace("_", ""): n for n in backend_order()}
    raw = read_json(file).get("benchmarks", [])
    has_median = any(b.get("aggregate_name") == "median" for b in raw)
    samples = {}
    for b in raw:
        m = pattern.match(b.get("run_name") or b.get("name", ""))
        if not m or (has_median and b.get("aggregate_name") != "median"):
            continue
        if not has_median and b.get("run_type") == "aggregate":
            continue
        mech = names.get(m.group(1).lower(), m.group(1).lower())
        ns = b["real_time"] * _TIME_UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
        samples.setdefault(mech, {}).setdefault(int(m.group(2)), []).append(ns)
    return {mech: sorted((fds, statistics.mean(v)) for fds, v in by_fds.items())
            for mech, by_fds in samples.items()}


_TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


# ---------------------------------------------------------------------------- accessors


def sort_backends(names):
    """Backends in registry order; names the registry does not know after them, alphabetically."""
    order = backend_order(names)
    known = [b for b in order if b in names]
    return known + sorted(n for n in names if n not in order)


def config_sort_key(key):
    backend, clients, size = key
    order = backend_order((backend,))
    rank = order.index(backend) if backend in order else len(order)
    return (size, rank, backend, clients)


def _style_index(backend):
    """(is_variant, position among the bases or among the variants); None when unknown."""
    entries = registry()
    if entries is None:
        return None
    bases = [e["name"] for e in entries if e["name"] == e["base"]]
    variants = [e["name"] for e in entries if e["name"] != e["base"]]
    if backend in bases:
        return False, bases.index(backend)
    if backend in variants:
        return True, variants.index(backend)
    return None


def backend_color(backend):
    """The colour of a backend by its registry position; unknown ones get a stable colour from their name."""
    index = _style_index(backend)
    if index is not None:
        palette = VARIANT_COLORS if index[0] else BASE_COLORS
        return palette[index[1] % len(palette)]
    return VARIANT_COLORS[sum(map(ord, backend)) % len(VARIANT_COLORS)]


def backend_marker(backend):
    """The marker of a backend by its registry position."""
    order = backend_order((backend,))
    return MARKERS[(order.index(backend) if backend in order else sum(map(ord, backend))) % len(MARKERS)]


def metric(run, name):
    """A scalar result by short name; None when the run lacks it (older JSON, failed run)."""
    r = run.results
    lat = r.get("latency_us", {})

    def kernel(side, field):
        return ((r.get("kernel_counters") or {}).get(side) or {}).get(field)

    getters = {
        "throughput": lambda: r.get("throughput_rps"),
        "p50": lambda: lat.get("p50"),
        "p99": lambda: lat.get("p99"),
        "p999": lambda: lat.get("p999"),
        "server_us_per_req": lambda: r.get("server_cpu_us_per_request"),
        "errors": lambda: r.get("errors"),
        # what each request cost the kernel (results.kernel_counters; null where not counted)
        "server_syscalls_per_req": lambda: kernel("server", "syscalls_per_request"),
        "server_cs_per_req": lambda: kernel("server", "context_switches_per_request"),
        "loadgen_syscalls_per_req": lambda: kernel("loadgen", "syscalls_per_request"),
        "loadgen_cs_per_req": lambda: kernel("loadgen", "context_switches_per_request"),
    }
    value = getters[name]()
    return None if value is None else float(value)


def values(runs, name):
    """The metric over repetitions, skipping runs that lack it."""
    return [v for v in (metric(r, name) for r in runs) if v is not None]


def failed_requests(run):
    """'7 failed requests (timeout 7)' for a run whose requests failed; '' when none did."""
    errors = metric(run, "errors") or 0
    if errors <= 0:
        return ""
    by_kind = run.results.get("errors_by_kind") or {}
    kinds = ", ".join(f"{k} {v:,}" for k, v in by_kind.items() if v)
    return f"{int(errors):,} failed requests" + (f" ({kinds})" if kinds else "")


def loadgen_saturated(run):
    """True when the load generator, not the server, limited the run.

    Uses the C++ verdict (results.loadgen_saturated) when present; otherwise applies the
    same rule to the CPU utilisations: load generator >= 90% busy, server < 90%.
    """
    r = run.results
    if "loadgen_saturated" in r:
        return bool(r["loadgen_saturated"])
    lg, srv = r.get("loadgen_cpu_utilization"), r.get("server_cpu_utilization")
    return lg is not None and srv is not None and lg >= SATURATION_UTILIZATION > srv


LATENCY_FALLBACK_POINTS = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9),
                           ("p9999", 99.99))


def latency_spectrum(run):
    """(percentiles, values_us, exact) for a run's latency distribution.

    exact=True: results.latency_spectrum (many HdrHistogram points).  exact=False: only
    the summary percentiles p50..p99.99 and max from latency_us, so the curve is coarse.
    The maximum is returned as percentile 100 in both cases.
    """
    spec = run.results.get("latency_spectrum")
    if spec:
        pts = [(float(p["percentile"]), float(p["value_us"])) for p in spec
               if p.get("percentile") is not None and p.get("value_us") is not None]
        if pts:
            return [p for p, _ in pts], [v for _, v in pts], True
    lat = run.results.get("latency_us", {})
    pts = [(pct, float(lat[k])) for k, pct in LATENCY_FALLBACK_POINTS if lat.get(k) is not None]
    if lat.get("max") is not None:
        pts.append((100.0, float(lat["max"])))
    return [p for p, _ in pts], [v for _, v in pts], False


def timeline(run):
    """results.timeline as a list of dicts, or [] when the run has none."""
    return list(run.results.get("timeline") or [])


# ---------------------------------------------------------------------------- statistics


@dataclass
class MedianCI:
    """A median with a distribution-free confidence interval and the interval's real coverage."""

    median: float
    low: float
    high: float
    coverage: float
    n: int


def median_ci(samples, confidence=CONFIDENCE):
    """Median and its confidence interval by the order-statistic (binomial) method.

    Why this and not a bootstrap: with the 3-5 repetitions a sweep affords, a bootstrap
    of the median can only return observed values and silently overstates its coverage.
    The order-statistic interval [x_(k), x_(n-k+1)] has an exact coverage
    1 - 2*P(Binomial(n, 1/2) <= k-1), independent of the distribution.  We pick the
    narrowest such interval reaching `confidence`; when n is too small for any interval
    to reach it (n < 6 for 95%), the interval is the full range and `coverage` says what
    it really achieves (n=3: 75%, n=5: 93.75%), so reports can state it honestly.
    """
    xs = sorted(float(x) for x in samples)
    n = len(xs)
    if n == 0:
        return None
    k = 1
    while k + 1 <= (n + 1) // 2 and _order_stat_coverage(n, k + 1) >= confidence:
        k += 1
    return MedianCI(statistics.median(xs), xs[k - 1], xs[n - k], _order_stat_coverage(n, k), n)


def fmt_coverage(coverage):
    """0.75 -> '75%', 0.96875 -> '96.8%': rounded down, so nothing reads as 95% unless it is."""
    return f"{math.floor(coverage * 1000) / 10:g}%"


def coverage_note(cis):
    """'coverage 75% (n=3)' for the intervals drawn or tabulated; several when n differs."""
    seen = sorted({(ci.n, ci.coverage) for ci in cis if ci})
    return "coverage " + ", ".join(f"{fmt_coverage(c)} (n={n})" for n, c in seen) if seen else ""


def _order_stat_coverage(n, k):
    """Probability that [x_(k), x_(n-k+1)] contains the true median of a continuous law."""
    tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
    return max(0.0, 1.0 - 2.0 * tail)


def cv_pct(samples):
    """Coefficient of variation (sample stdev / mean) in percent; None below 2 samples."""
    if len(samples) < 2:
        return None
    mean = statistics.mean(samples)
    return statistics.stdev(samples) / mean * 100.0 if mean else None


def min_mannwhitney_p(n1, n2):
    """Smallest two-sided p-value an exact Mann-Whitney U test can give for these sizes.

    It is reached when the two samples do not overlap at all: 2 / C(n1+n2, n1).
    With 3 vs 3 repetitions that is 0.1, so p < 0.05 is impossible however large the change.
    """
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def summarize(runs):
    """Per-configuration statistics used by the report's table and the plots."""
    tput = values(runs, "throughput")
    return {
        "n": len(runs),
        "throughput": median_ci(tput),
        "cv_pct": cv_pct(tput),
        "p50": median_ci(values(runs, "p50")),
        "p99": median_ci(values(runs, "p99")),
        "p999": median_ci(values(runs, "p999")),
        "server_us_per_req": median_ci(values(runs, "server_us_per_req")),
        "server_syscalls_per_req": median_ci(values(runs, "server_syscalls_per_req")),
        "server_cs_per_req": median_ci(values(runs, "server_cs_per_req")),
        "loadgen_syscalls_per_req": median_ci(values(runs, "loadgen_syscalls_per_req")),
        "loadgen_cs_per_req": median_ci(values(runs, "loadgen_cs_per_req")),
        "errors": int(sum(values(runs, "errors"))),
    }


# ---------------------------------------------------------------------------- formatting


def fmt_count(x, digits=3, trim=False):
    """12345 -> '12.3k', 261807 -> '262k', 1.5e6 -> '1.50M' ('1.5M' with trim, for ticks)."""
    if x is None:
        return "–"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return _sig(x / scale, digits, trim) + suffix
    return _sig(x, digits, trim)


def fmt_us(x, trim=False):
    """A latency in µs, switching to ms or s when large: 125 µs, 4.73 ms, 1.20 s."""
    if x is None:
        return "–"
    if x >= 1e6:
        return _sig(x / 1e6, 3, trim) + " s"
    if x >= 1e3:
        return _sig(x / 1e3, 3, trim) + " ms"
    if x < 1 and x > 0:
        return _sig(x * 1e3, 3, trim) + " ns"
    return _sig(x, 3, trim) + " µs"


def fmt_pct(x, signed=False):
    if x is None:
        return "–"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def fmt_bytes(n):
    """Message sizes: 128 B, 4 KiB, 1 MiB."""
    for scale, suffix in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {suffix}"
    return f"{n} B"


def fmt_seconds(s):
    if s is None:
        return "?"
    return f"{s:g} s"


def _sig(x, digits, trim=False):
    """x to `digits` significant figures without scientific notation (262, 26.2, 2.62).

    trim drops trailing zeros ('50.0' -> '50'): right for axis ticks, wrong for tables,
    where the zeros say how precise the number is.
    """
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    text = f"{x:.{decimals}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def config_label(key):
    """'epoll, 1000 clients, 128 B' — how a configuration is named to humans."""
    backend, clients, size = key
    return f"{backend}, {clients:,} client{'s' if clients != 1 else ''}, {fmt_bytes(size)}"


def config_id(key):
    """'epoll-c1000-m128' — the same naming as the sweep's run ids, for grepping."""
    backend, clients, size = key
    return f"{backend}-c{clients}-m{size}"


def environment_line(env):
    """One line naming the machine and build: goes under every plot and into reports."""
    parts = [
        env.get("kernel"),
        env.get("cpu_model"),
        f"{env['online_cores']} cores" if env.get("online_cores") else None,
        " ".join(p for p in (env.get("compiler"), env.get("build_type")) if p) or None,
        f"commit {env['git_commit']}" if env.get("git_commit") else None,
        env.get("date"),
    ]
    return " · ".join(str(p) for p in parts if p)
