#!/usr/bin/python3
"""Writes DIR/report.md and a self-contained DIR/report.html for a muxbench sweep.

    scripts/report.py DIR [--spectrum-clients N] [--timeline-run ID]

Draws the plots (plot.py) and puts them next to a summary table, the method, the
environment and the caveats a reader needs before trusting a number: runs limited by
the load generator, runs with errors, failed runs and noisy configurations.  The HTML
embeds the plots as base64 PNG and loads nothing from elsewhere, so it can be mailed
or attached to a CI run as one file.
Exit status: 0 on success, 2 on bad input (missing directory, no runs).
"""

import argparse
import base64
import html
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from muxbench.plots import all_plots  # noqa: E402
from muxbench import format as fmt  # noqa: E402
from muxbench import results as mr  # noqa: E402
from muxbench import stats  # noqa: E402
from muxbench.report.summary import ranking_blocks, rate_blocks  # noqa: E402

ENVIRONMENT_FIELDS = (("kernel", "Kernel"), ("cpu_model", "CPU"), ("online_cores", "Online cores"),
                      ("compiler", "Compiler"), ("build_type", "Build type"),
                      ("git_commit", "Commit"), ("date", "Date"))


def main(argv=None):
    args = parse_args(argv)
    try:
        sweep = all_plots.load(args.dir)
        plots, notes = all_plots.make_plots(sweep, Path(args.dir) / "plots",
                                       args.spectrum_clients, args.timeline_run)
    except mr.InputError as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    blocks = build_report(sweep, plots, notes)
    md, page = Path(args.dir) / "report.md", Path(args.dir) / "report.html"
    md.write_text(render_markdown(blocks, Path(args.dir)), encoding="utf-8")
    page.write_text(render_html(blocks), encoding="utf-8")
    for note in notes:
        print(f"note: {note}")
    for p in plots:
        print(p.png)
        print(p.svg)
    print(md)
    print(page)
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="sweep directory (from `bench sweep --out=DIR`)")
    parser.add_argument("--spectrum-clients", type=int, metavar="N",
                        help="client count for the latency spectrum plot")
    parser.add_argument("--timeline-run", metavar="ID", help="run id for the timeline plot")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------- content
# The report is a list of blocks, rendered twice (Markdown, HTML), so both say the same:
#   ("h1"|"h2"|"p", text)  ("ul", [text])  ("table", headers, rows)  ("figure", muxbench.plots.figure.Plot)
# Text may contain `code` spans.


def build_report(sweep, plots, notes):
    groups = sweep.groups()
    blocks = [("h1", f"muxbench results: {sweep.path.resolve().name}"),
              ("p", overview(sweep, groups))]
    # What a reader wants first: who wins where, by how much, and what limited each run.
    blocks += [("h2", "Summary")] + ranking_blocks(sweep, groups)
    blocks += [("h2", "Caveats"), ("ul", caveat_items(sweep, groups))]
    blocks += [("h2", "Results per configuration")] + summary_blocks(sweep, groups)
    if sweep.rate_groups():
        blocks += [("h2", "Latency against offered load")] + rate_blocks(sweep)
    blocks += [("h2", "Plots")] + [("figure", p) for p in plots]
    if notes:
        blocks.append(("ul", [f"Not plotted or approximated: {n}" for n in notes]))
    blocks += [("h2", "Appendix: method"), ("ul", method_items(sweep))]
    blocks += [("h2", "Appendix: environment"), environment_table(sweep.environment)]
    return blocks


def overview(sweep, groups):
    failed = len(sweep.runs) - len(sweep.complete_runs)
    text = (f"{len(groups)} configurations ({', '.join(sweep.backends())}; "
            f"{', '.join(f'{c:,}' for c in sweep.clients())} clients; "
            f"{', '.join(fmt.fmt_bytes(s) for s in sweep.message_sizes())} messages), "
            f"{len(sweep.complete_runs)} complete runs")
    if failed:
        text += f", {failed} failed or incomplete (see Caveats)"
    return text + "."


def summary_blocks(sweep, groups):
    """The per-configuration table, plus a footnote when the CI is just the range."""
    headers = ["Msg size", "Backend", "Clients", "Throughput (req/s)", "CI of median (coverage)",
               "CV", "p50", "p99", "p99.9", "Server CPU/req", "Srv sys/req", "Srv cs/req", "Errors", "n"]
    planned = {}
    for run in sweep.runs:
        planned[run.key] = planned.get(run.key, 0) + 1
    rows, intervals = [], []
    for key, runs in groups.items():
        s = mr.summarize(runs)
        tput = s["throughput"]
        ci = "–"
        if s["n"] > 1:
            ci = (f"{fmt.fmt_count(tput.low)}–{fmt.fmt_count(tput.high)} "
                  f"({stats.fmt_coverage(tput.coverage)})")
            intervals.append(tput)
        n = str(s["n"]) if planned.get(key, 0) == s["n"] else f"{s['n']} of {planned[key]}"
        rows.append([fmt.fmt_bytes(key[2]), key[0], f"{key[1]:,}", fmt.fmt_count(tput.median),
                     ci,
                     fmt.fmt_pct(s["cv_pct"]), us(s["p50"]), us(s["p99"]), us(s["p999"]),
                     us(s["server_us_per_req"]), per_request(s["server_syscalls_per_req"]),
                     per_request(s["server_cs_per_req"]), f"{s['errors']:,}", n])
    blocks = [("table", headers, rows)]
    if any(ci.coverage < stats.CONFIDENCE for ci in intervals):
        blocks.append(("p", f"Coverage is the probability that the interval contains the true "
                            f"median. Below 6 repetitions no interval reaches "
                            f"{stats.fmt_coverage(stats.CONFIDENCE)}: shown is the min–max range with "
                            f"what it really covers. Run 6 or more repetitions for a "
                            f"{stats.fmt_coverage(stats.CONFIDENCE)} interval."))
    blocks.append(("p", "Latencies, server CPU, syscalls and context switches per request are medians "
                        "over repetitions; "
                        "CV is the coefficient of variation of throughput across repetitions."))
    return blocks


def us(ci):
    return fmt.fmt_us(ci.median) if ci else "–"


def per_request(ci):
    """A count per request (syscalls, context switches): '–' where not counted."""
    return f"{ci.median:.3f}" if ci else "–"


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
        "distribution-free, the narrowest [x(k), x(n−k+1)] whose coverage reaches 95%; with "
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


def environment_table(env):
    """Known fields first in a fixed order, then anything else the harness recorded."""
    rows = [[label, str(env[k])] for k, label in ENVIRONMENT_FIELDS if env.get(k) not in (None, "")]
    known = {k for k, _ in ENVIRONMENT_FIELDS}
    rows += [[k, str(v)] for k, v in sorted(env.items()) if k not in known]
    return ("table", ["", "Value"], rows or [["(none recorded)", ""]])


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
                if not text.startswith("the load generator, not the server"):
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


# ---------------------------------------------------------------------------- rendering


def render_markdown(blocks, base):
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            out.append(f"# {block[1]}")
        elif kind == "h2":
            out.append(f"## {block[1]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            out.append(markdown_table(block[1], block[2]))
        elif kind == "figure":
            rel = block[1].png.relative_to(base)
            out.append(f"![{block[1].title}]({rel.as_posix()})")
    return "\n\n".join(out) + "\n"


def markdown_table(headers, rows):
    cell = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f4f4; } td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
"""


def render_html(blocks):
    title = next((b[1] for b in blocks if b[0] == "h1"), "muxbench results")
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{inline(block[1])}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            body.append(html_table(block[1], block[2]))
        elif kind == "figure":
            body.append(html_figure(block[1]))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def inline(text):
    """Escapes text and turns `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def html_table(headers, rows):
    head = "".join(f"<th>{inline(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{inline(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_figure(p):
    """The PNG embedded as a data: URI: the page must not depend on files beside it."""
    data = base64.b64encode(p.png.read_bytes()).decode("ascii")
    alt = html.escape(p.title)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{alt}</figcaption></figure>")


if __name__ == "__main__":
    sys.exit(main())
