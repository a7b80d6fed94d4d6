"""The report of one sweep as a list of blocks, rendered twice (Markdown and HTML, by
muxbench.report.render) so that both say the same:
  ("h1"|"h2"|"p", text)  ("ul", [text])  ("table", headers, rows)  ("figure", muxbench.plots.figure.Plot)
Text may contain `code` spans. The ranking comes first (muxbench.report.summary), then the
caveats (muxbench.report.caveats), the table per configuration, the plots, and the method
(muxbench.report.method) and environment as appendices.
"""

from muxbench import facts
from muxbench import format as fmt
from muxbench import results as mr
from muxbench import stats
from muxbench.report.caveats import caveat_items
from muxbench.report.method import method_items
from muxbench.report.summary import ranking_blocks, rate_blocks

ENVIRONMENT_FIELDS = (("kernel", "Kernel"), ("cpu_model", "CPU"), ("online_cores", "Online cores"),
                      ("compiler", "Compiler"), ("build_type", "Build type"),
                      ("git_commit", "Commit"), ("date", "Date"))


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
    if any(ci.coverage < facts.MEDIAN_INTERVAL_CONFIDENCE for ci in intervals):
        blocks.append(("p", f"Coverage is the probability that the interval contains the true "
                            f"median. Below 6 repetitions no interval reaches "
                            f"{stats.fmt_coverage(facts.MEDIAN_INTERVAL_CONFIDENCE)}: shown is the min–max range with "
                            f"what it really covers. Run 6 or more repetitions for a "
                            f"{stats.fmt_coverage(facts.MEDIAN_INTERVAL_CONFIDENCE)} interval."))
    blocks.append(("p", "Latencies, server CPU, syscalls and context switches per request are medians "
                        "over repetitions; "
                        "CV is the coefficient of variation of throughput across repetitions."))
    return blocks


def us(ci):
    return fmt.fmt_us(ci.median) if ci else "–"


def per_request(ci):
    """A count per request (syscalls, context switches): '–' where not counted."""
    return f"{ci.median:.3f}" if ci else "–"


def environment_table(env):
    """Known fields first in a fixed order, then anything else the harness recorded."""
    rows = [[label, str(env[k])] for k, label in ENVIRONMENT_FIELDS if env.get(k) not in (None, "")]
    known = {k for k, _ in ENVIRONMENT_FIELDS}
    rows += [[k, str(v)] for k, v in sorted(env.items()) if k not in known]
    return ("table", ["", "Value"], rows or [["(none recorded)", ""]])
