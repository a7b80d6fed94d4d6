"""Shared loading, statistics and formatting for muxbench's Python reporting.

plot.py, report.py and compare.py all read the same sweep directories and must agree
on what a "configuration" and a "complete run" are; keeping that here means the three
scripts cannot drift apart. The statistics are in muxbench.stats, the formatting in
muxbench.format, the backends' order and styles in muxbench.registry.

A sweep directory (written by `bench sweep --out=DIR`) holds DIR/sweep.json, which
lists every planned run, and DIR/runs/<id>.json, one single-run JSON per run.  A
directory without sweep.json but with single-run JSON files (DIR/runs/*.json or
DIR/*.json, e.g. from `bench --json`) is accepted too, as one repetition each.
"""

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from muxbench import facts
from muxbench.registry import backend_order, sort_backends
from muxbench.stats import cv_pct, median_ci

# Configurations whose throughput varies more than this between repetitions are flagged.
HIGH_CV_PCT = 10.0


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
    rate: str = None  # --rates: None for the closed loop; "20000" (req/s) or "50%" (of its capacity)

    @property
    def key(self):
        """The configuration this run measures; repetitions of it share the key. An open-loop
        run of a rate sweep has its rate as a fourth member."""
        if self.rate is None:
            return (self.backend, self.clients, self.message_size)
        return (self.backend, self.clients, self.message_size, self.rate)

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
        """Complete closed-loop runs grouped by configuration, in a stable order (backend,
        clients, size). The open-loop runs of a rate sweep are in rate_groups()."""
        out = {}
        for run in sorted(self.complete_runs, key=lambda r: (config_sort_key(r.key), r.repetition)):
            if run.rate is None:
                out.setdefault(run.key, []).append(run)
        return out

    def rate_groups(self):
        """Complete open-loop runs of a rate sweep (--rates), grouped by (backend, clients,
        size, rate)."""
        out = {}
        for run in sorted(self.complete_runs, key=lambda r: (config_sort_key(r.key), r.repetition)):
            if run.rate is not None:
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
            message_size=int(entry.get("message_size") or 0),  # drawn sizes: null, taken as 0
            repetition=int(entry.get("repetition", 0)),
            order=int(entry.get("order", 0)),
            status=entry.get("status", "complete"),
            error=entry.get("error", ""),
            rate=entry.get("rate"),
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
        rate = f"{cfg['rate']:g}" if isinstance(cfg.get("rate"), (int, float)) else None
        key = (cfg.get("backend", "?"), int(cfg.get("clients", 0)), int(cfg.get("message_size") or 0), rate)
        rep = seen[key] = seen.get(key, -1) + 1
        runs.append(Run(id=file.stem, backend=key[0], clients=key[1], message_size=key[2],
                        repetition=rep, order=len(runs), data=data, rate=rate))
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
    pattern = re.compile(facts.MICRO_WAIT_PATTERN)
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


def config_sort_key(key):
    backend, clients, size = key[:3]
    order = backend_order((backend,))
    rank = order.index(backend) if backend in order else len(order)
    return (size, rank, backend, clients, facts.rate_order(key[3] if len(key) > 3 else None))


def metric(run, name):
    """A scalar result by short name (facts.METRIC_PATHS); None when the run lacks it (older
    JSON, failed run, not counted)."""
    value = value_at(run.results, facts.METRIC_PATHS[name])
    return None if value is None else float(value)


def value_at(results, path):
    """The value at a path of keys in a run's results; None where a step is missing or null.
    Raises TypeError where a step is neither an object nor null: the JSON is broken."""
    for key in path:
        if results is None:
            return None
        if not isinstance(results, dict):
            raise TypeError(f"results.{'.'.join(path)}: a {type(results).__name__} where an object belongs")
        results = results.get(key)
    return results


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
    return lg is not None and srv is not None and lg >= facts.SATURATED_FRACTION > srv


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
    pts = [(pct, float(lat[k])) for k, pct in facts.LATENCY_PERCENTILES if lat.get(k) is not None]
    if lat.get("max") is not None:
        pts.append((100.0, float(lat["max"])))
    return [p for p, _ in pts], [v for _, v in pts], False


def timeline(run):
    """results.timeline as a list of dicts, or [] when the run has none."""
    return list(run.results.get("timeline") or [])


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
