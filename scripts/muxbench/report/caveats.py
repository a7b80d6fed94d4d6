"""The report's caveats: everything that makes a number less trustworthy than it looks (the
load generator as the bottleneck, failed requests, the harness's own warnings, failed runs,
noisy configurations).
"""

import re
import statistics

from muxbench import facts
from muxbench import format as fmt
from muxbench import results as mr
from muxbench import stats


def caveat_items(sweep, groups):
    """Everything that makes a number in this report less trustworthy than it looks."""
    items = []
    items += saturation_caveats(groups)
    items += error_caveats(sweep)
    items += warning_caveats(groups)
    items += [f"Run `{r.id}` did not complete: {r.why_not_ok()}. Its configuration's "
              f"statistics use the remaining repetitions." for r in sweep.runs if not r.ok]
    for key, runs in groups.items():
        cv = stats.cv_pct(mr.values(runs, "throughput"))
        if cv is not None and cv > mr.HIGH_CV_PCT:
            items.append(f"{fmt.config_label(key)}: throughput varies by CV {cv:.1f}% across "
                         f"{len(runs)} repetitions (over {mr.HIGH_CV_PCT:g}%): treat its median "
                         f"with caution, or run more repetitions.")
    return items or ["None detected: no load-generator saturation, no errors, no failed runs, "
                     f"no configuration with CV over {mr.HIGH_CV_PCT:g}%."]


def saturation_caveats(groups):
    """One item per configuration whose load generator, not the server, was the bottleneck."""
    out = []
    for key, runs in groups.items():
        hit = [r for r in runs if mr.loadgen_saturated(r)]
        if not hit:
            continue
        lg = median_of(hit, "loadgen_cpu_utilization")
        srv = median_of(hit, "server_cpu_utilization")
        out.append(f"{fmt.config_label(key)}: the load generator, not the server, was the "
                   f"bottleneck in {len(hit)} of {len(runs)} runs (load generator CPU {pct(lg)}, "
                   f"server {pct(srv)}, medians); its throughput understates the server.")
    return out


def median_of(runs, field):
    vals = [r.results[field] for r in runs if r.results.get(field) is not None]
    return statistics.median(vals) if vals else None


def warning_caveats(groups):
    """The harness's own per-run warnings, once per configuration and kind of warning.

    Load-generator saturation is left out: saturation_caveats already reports it.  Numbers
    are ignored when grouping, so "achieved 9,500 req/s…" from three runs is one item.
    """
    out = []
    for key, runs in groups.items():
        seen = {}
        for run in runs:
            for text in (run.data or {}).get("warnings") or []:
                if not text.startswith(facts.LOADGEN_SATURATED_WARNING):
                    seen.setdefault(re.sub(r"[\d.,]+", "#", text), []).append(text)
        out += [f"{fmt.config_label(key)}: {texts[0]} ({len(texts)} of {len(runs)} runs)"
                for texts in seen.values()]
    return out


def error_caveats(sweep):
    out = []
    for run in sweep.complete_runs:
        failed = mr.failed_requests(run)
        if failed:
            out.append(f"Run `{run.id}`: {failed}.")
    return out


def pct(x):
    return "?" if x is None else f"{x:.1%}"
