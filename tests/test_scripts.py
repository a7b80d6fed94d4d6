#!/usr/bin/python3
"""Tests of the Python reporting scripts (plot.py, report.py, compare.py) on the fixtures;
compare.py's exit statuses and completeness gate are in tests/test_compare_script.py.

    /usr/bin/python3 -m unittest -v tests.test_scripts     (from the repository root)
    /usr/bin/python3 tests/test_scripts.py -v               (from anywhere)

The scripts are run as a user runs them (subprocess, exit status, files written), on
temporary copies of tests/fixtures so the committed fixtures are never modified.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
FIXTURES = ROOT / "tests" / "fixtures"
PYTHON = sys.executable or "/usr/bin/python3"

sys.path.insert(0, str(SCRIPTS))
from muxbench import facts  # noqa: E402
from muxbench import results as mr  # noqa: E402
from muxbench import stats  # noqa: E402
from muxbench.bench_binary import MISSING, find_bench  # noqa: E402
from muxbench.gate.statistics import compare_metric, repetitions_needed  # noqa: E402


def run(script, *args):
    """Runs scripts/<script> with args; returns the CompletedProcess (text output)."""
    return subprocess.run([PYTHON, str(SCRIPTS / script), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


class TempCopy(unittest.TestCase):
    """Gives each test a private copy of a fixture sweep in self.tmp."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="muxbench-test-")
        self.tmp = Path(self._tmp.name)
        self.addCleanup(self._tmp.cleanup)

    def copy(self, name):
        dest = self.tmp / name
        shutil.copytree(FIXTURES / name, dest)
        return dest


def assert_png(test, path):
    test.assertTrue(path.is_file(), f"{path} missing")
    test.assertEqual(path.read_bytes()[:8], b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")


def assert_svg(test, path):
    test.assertTrue(path.is_file(), f"{path} missing")
    test.assertIn("<svg", path.read_text(encoding="utf-8")[:2000], f"{path} is not an SVG")


class PlotTest(TempCopy):
    def test_writes_every_plot_as_png_and_svg(self):
        sweep = self.copy("sweep-aa-base")
        result = run("plot.py", sweep)
        self.assertEqual(result.returncode, 0, result.stderr)
        stems = ["throughput-m128", "p99-m128", "server-cpu-m128", "spectrum-c100-m128",
                 "timeline-epoll-c100-m128-r0", "micro-wait-cost"]
        for stem in stems:
            assert_png(self, sweep / "plots" / f"{stem}.png")
            assert_svg(self, sweep / "plots" / f"{stem}.svg")
            self.assertIn(str(sweep / "plots" / f"{stem}.png"), result.stdout)

    def test_options_choose_spectrum_clients_and_timeline_run(self):
        sweep = self.copy("sweep-aa-base")
        result = run("plot.py", sweep, "--spectrum-clients=10", "--timeline-run=poll-c10-m128-r1")
        self.assertEqual(result.returncode, 0, result.stderr)
        assert_png(self, sweep / "plots" / "spectrum-c10-m128.png")
        assert_png(self, sweep / "plots" / "timeline-poll-c10-m128-r1.png")

    def test_optional_fields_absent_are_skipped_with_a_note(self):
        sweep = self.copy("sweep-aa-current")
        strip_optional_results(sweep)
        result = run("plot.py", sweep)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no results.timeline", result.stdout)
        self.assertIn("latency_spectrum", result.stdout)
        self.assertIn("no micro.json", result.stdout)
        assert_png(self, sweep / "plots" / "spectrum-c100-m128.png")
        self.assertFalse(list((sweep / "plots").glob("timeline-*")))

    def test_bad_input_exits_2_with_one_line(self):
        empty = self.tmp / "empty"
        empty.mkdir()
        for args in ([self.tmp / "missing"], [empty],
                     [self.copy("sweep-aa-base"), "--timeline-run=no-such-run"]):
            result = run("plot.py", *args)
            self.assertEqual(result.returncode, 2, result.stdout)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)


class ReportTest(TempCopy):
    def test_writes_markdown_and_self_contained_html(self):
        sweep = self.copy("sweep-aa-base")
        result = run("report.py", sweep)
        self.assertEqual(result.returncode, 0, result.stderr)
        md = (sweep / "report.md").read_text(encoding="utf-8")
        page = (sweep / "report.html").read_text(encoding="utf-8")
        headings = ["## Summary", "## Caveats", "## Results per configuration", "## Plots",
                    "## Appendix: method", "## Appendix: environment"]
        for heading in headings:
            self.assertIn(heading, md)
        # The summary first, method and environment at the end.
        self.assertEqual(sorted(headings, key=md.index), headings)
        self.assertIn("the load generator, not the server, was the bottleneck", md)
        self.assertIn("seed 1", md)
        self.assertIn("plots/throughput-m128.png", md)
        self.assertNotIn("95% CI", md)        # 3 repetitions: the interval covers 75%, and says so
        self.assertIn("(75%)", md)
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertIn("data:image/png;base64,", page)
        for external in ('src="http', "src='http", 'href="http', "url(http", "@import"):
            self.assertNotIn(external, page)

    def test_failed_runs_and_errors_are_caveats(self):
        sweep = self.copy("sweep-aa-current")
        meta = json.loads((sweep / "sweep.json").read_text())
        meta["runs"][0].update(status="failed", error="server crashed")
        (sweep / "sweep.json").write_text(json.dumps(meta))
        errored = sweep / meta["runs"][1]["file"]
        data = json.loads(errored.read_text())
        data["results"]["errors"] = 7
        data["results"]["errors_by_kind"]["timeout"] = 7
        errored.write_text(json.dumps(data))
        result = run("report.py", sweep)
        self.assertEqual(result.returncode, 0, result.stderr)
        md = (sweep / "report.md").read_text(encoding="utf-8")
        self.assertIn(f"`{meta['runs'][0]['id']}` did not complete: failed: server crashed", md)
        self.assertIn(f"`{meta['runs'][1]['id']}`: 7 failed requests (timeout 7)", md)
        self.assertIn("2 of 3", md)  # n column of the configuration that lost a run

    def test_missing_dir_exits_2(self):
        result = run("report.py", self.tmp / "missing")
        self.assertEqual(result.returncode, 2)
        self.assertIn("no such directory", result.stderr)


def edit_plan(sweep, change):
    """Rewrites sweep.json's runs[] with change(runs) -> runs."""
    meta = json.loads((sweep / "sweep.json").read_text())
    meta["runs"] = change(meta["runs"])
    (sweep / "sweep.json").write_text(json.dumps(meta))


def edit_run(sweep, run_id, change):
    """Applies change(data) in place to the JSON of one run."""
    file = sweep / "runs" / f"{run_id}.json"
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


class IntervalAgreementTest(TempCopy):
    """summary.json (C++) and muxbench.stats.median_ci (Python) state the same interval."""

    def summarize_with_bench(self, sweep, repetitions):
        """`bench sweep` resuming a finished copy measures nothing and writes summary.json."""
        bench = find_bench()
        if bench is None:
            self.skipTest(MISSING)
        result = subprocess.run([str(bench), "sweep", "--backends=poll,epoll", "--clients=10,100",
                                 "--message-sizes=128", f"--repetitions={repetitions}",
                                 "--duration=3", "--warmup=1", f"--out={sweep}"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return json.loads((sweep / "summary.json").read_text())

    def assert_agree(self, sweep, summary, n):
        groups = mr.load_sweep(sweep).groups()
        self.assertEqual(summary["ci_method"], facts.MEDIAN_INTERVAL_METHOD)
        self.assertEqual(len(summary["configurations"]), len(groups))
        for config in summary["configurations"]:
            runs = groups[(config["backend"], config["clients"], config["message_size"])]
            for cpp_name, py_name in (("throughput_rps", "throughput"), ("p99_us", "p99"),
                                      ("server_cpu_us_per_request", "server_us_per_req")):
                cpp, py = config[cpp_name], stats.median_ci(mr.values(runs, py_name))
                self.assertEqual(cpp["n"], n)
                self.assertNotIn("ci95_low", cpp)
                for key, value in (("median", py.median), ("ci_low", py.low),
                                   ("ci_high", py.high), ("ci_coverage", py.coverage)):
                    self.assertAlmostEqual(cpp[key], value, delta=1e-9 * max(1.0, abs(value)),
                                           msg=f"{config['name']} {cpp_name} {key}")

    def test_three_repetitions_are_the_range_at_75_percent(self):
        sweep = self.copy("sweep-aa-base")
        summary = self.summarize_with_bench(sweep, 3)
        self.assert_agree(sweep, summary, 3)
        tput = summary["configurations"][0]["throughput_rps"]
        self.assertEqual((tput["ci_low"], tput["ci_high"]),
                         (min(tput["values"]), max(tput["values"])))
        self.assertAlmostEqual(tput["ci_coverage"], 0.75)
        bmf = json.loads((sweep / "bmf.json").read_text())
        self.assertTrue(all(m["ci_coverage"] == 0.75 for b in bmf.values() for m in b.values()))

    def test_nine_repetitions_drop_the_extremes(self):
        sweep = self.copy("sweep-aa-base")
        def more_repetitions(runs):
            extra = []
            for r in runs:
                for rep in (r["repetition"] + 3, r["repetition"] + 6):
                    new_id = r["id"][:-1] + str(rep)
                    data = json.loads((sweep / r["file"]).read_text())
                    data["results"]["throughput_rps"] *= 1 + rep / 100   # distinct values
                    data["results"]["latency_us"]["p99"] *= 1 - rep / 200
                    (sweep / "runs" / f"{new_id}.json").write_text(json.dumps(data))
                    extra.append(dict(r, id=new_id, repetition=rep, order=len(runs) + len(extra),
                                      file=f"runs/{new_id}.json"))
            return runs + extra
        edit_plan(sweep, more_repetitions)
        meta = json.loads((sweep / "sweep.json").read_text())
        meta["repetitions"] = 9
        (sweep / "sweep.json").write_text(json.dumps(meta))
        summary = self.summarize_with_bench(sweep, 9)
        self.assert_agree(sweep, summary, 9)
        tput = summary["configurations"][0]["throughput_rps"]
        ranked = sorted(tput["values"])
        self.assertEqual((tput["ci_low"], tput["ci_high"]), (ranked[1], ranked[7]))  # x(2), x(8)
        self.assertAlmostEqual(tput["ci_coverage"], 1 - 2 * (1 + 9) / 512)


def add_kernel_counters(sweep, server_syscalls, scale=1.0):
    """Gives every run of a fixture copy results.kernel_counters, as bench writes them:
    server syscalls per request from `server_syscalls(run id)` times `scale`."""
    for path in (sweep / "runs").glob("*.json"):
        data = json.loads(path.read_text())
        srv = server_syscalls(path.stem) * scale
        data["results"]["kernel_counters"] = {
            "server": {"available": True, "syscalls_per_request": srv,
                       "context_switches_per_request": srv / 100},
            "loadgen": {"available": True, "syscalls_per_request": 2.0,
                        "context_switches_per_request": 0.01}}
        path.write_text(json.dumps(data))


def fixed_syscalls(run_id):
    """Per-request syscalls that depend on the configuration and wobble a little by repetition."""
    backend = run_id.split("-c")[0]
    return {"epoll": 2.0, "poll": 2.5, "select": 2.5}.get(backend, 3.0) + 0.001 * int(run_id[-1])


class KernelCountersScriptsTest(TempCopy):
    """results.kernel_counters in the plots, the report and compare.py's gate."""

    def test_plots_and_report_show_syscalls_and_context_switches(self):
        sweep = self.copy("sweep-aa-base")
        add_kernel_counters(sweep, fixed_syscalls)
        result = run("report.py", sweep)
        self.assertEqual(result.returncode, 0, result.stderr)
        for stem in ("syscalls-m128", "context-switches-m128"):
            assert_png(self, sweep / "plots" / f"{stem}.png")
            assert_svg(self, sweep / "plots" / f"{stem}.svg")
        md = (sweep / "report.md").read_text(encoding="utf-8")
        self.assertIn("Srv sys/req", md)
        self.assertIn("| 2.001 |", md)  # epoll's median over repetitions 0, 1, 2

    def test_without_counters_the_plots_are_skipped_with_a_note(self):
        result = run("plot.py", self.copy("sweep-aa-base"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no run has results.kernel_counters", result.stdout)

    def test_compare_gates_on_server_syscalls_per_request(self):
        base, same, more = self.copy("sweep-aa-base"), self.copy("sweep-aa-current"), self.tmp / "more"
        shutil.copytree(same, more)
        add_kernel_counters(base, fixed_syscalls)
        add_kernel_counters(same, fixed_syscalls)
        add_kernel_counters(more, fixed_syscalls, scale=1.5)
        result = run("compare.py", base, same, "--max-throughput-drop=90", "--max-p99-rise=900")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("syscalls/req base → current", result.stdout)
        result = run("compare.py", base, more, "--max-throughput-drop=90", "--max-p99-rise=900")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        regressions = [l for l in result.stdout.splitlines() if l.startswith("REGRESSION:")]
        self.assertTrue(regressions and all("syscalls/req +50" in l for l in regressions),
                        result.stdout)

    def test_compare_without_counters_says_not_compared(self):
        result = run("compare.py", FIXTURES / "sweep-aa-base", FIXTURES / "sweep-aa-current")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("syscalls/req", result.stdout)


class StatisticsTest(unittest.TestCase):
    """The statistics the scripts' verdicts rest on, checked against known values."""

    def test_median_ci_reports_real_coverage(self):
        ci = stats.median_ci([3.0, 1.0, 2.0])
        self.assertEqual((ci.median, ci.low, ci.high), (2.0, 1.0, 3.0))
        self.assertAlmostEqual(ci.coverage, 0.75)
        wide = stats.median_ci(range(1, 21))           # n=20: [x_(6), x_(15)] covers 95.9%
        self.assertEqual((wide.low, wide.high), (6, 15))
        self.assertGreaterEqual(wide.coverage, 0.95)

    def test_coverage_is_printed_rounded_down(self):
        self.assertEqual(stats.fmt_coverage(0.75), "75%")
        self.assertEqual(stats.fmt_coverage(0.96875), "96.8%")
        self.assertEqual(stats.fmt_coverage(0.9499), "94.9%")   # never "95%"
        self.assertEqual(stats.coverage_note([stats.median_ci([1, 2, 3]), stats.median_ci([1, 2, 3, 4, 5])]),
                         "coverage 75% (n=3), 93.7% (n=5)")

    def test_min_mannwhitney_p(self):
        self.assertAlmostEqual(stats.min_mannwhitney_p(3, 3), 0.1)
        self.assertAlmostEqual(stats.min_mannwhitney_p(5, 5), 2 / 252)
        self.assertEqual(repetitions_needed(0.05), 4)

    def test_with_enough_repetitions_the_test_decides(self):
        base = [100.0, 101.0, 99.0, 100.5, 99.5]
        slower = [x * 0.8 for x in base]
        drop = compare_metric(base, slower, -10.0, 0.05, use_test=True)
        self.assertTrue(drop.regression)
        self.assertLess(drop.p, 0.05)
        within = compare_metric(base, [x * 0.95 for x in base], -10.0, 0.05, True)
        self.assertFalse(within.regression)   # significant, but inside the threshold

    def test_all_worse_rule_needs_no_overlap_with_margin(self):
        rule = lambda base, current, limit: compare_metric(
            base, current, limit, 0.05, use_test=False).regression
        base = [100.0, 104.0, 96.0]
        self.assertTrue(rule(base, [80.0, 85.0, 86.0], -10.0))
        # median dropped 15%, but one current run is not 10% below every baseline run
        self.assertFalse(rule(base, [80.0, 85.0, 87.0], -10.0))
        self.assertTrue(rule([100.0, 110.0], [140.0, 150.0], 25.0))   # p99: higher is worse

    def test_loadgen_saturation_falls_back_to_utilisation(self):
        run = mr.Run("x", "epoll", 1, 128, data={"results": {
            "loadgen_cpu_utilization": 0.95, "server_cpu_utilization": 0.5}})
        self.assertTrue(mr.loadgen_saturated(run))
        run.data["results"]["loadgen_saturated"] = False
        self.assertFalse(mr.loadgen_saturated(run))


class BenchFactsTest(unittest.TestCase):
    """muxbench.facts reads the kernel counters and bench's thresholds from `bench --list-counters
    --json`; where no bench is found it uses WITHOUT_BENCH, which must say what bench says."""

    def test_the_fallback_is_what_bench_lists(self):
        listing = facts.listing()
        if listing is None:
            self.skipTest(MISSING)
        self.assertEqual({name: listing["facts"][name] for name in facts.WITHOUT_BENCH}, facts.WITHOUT_BENCH)
        for counter in listing["counters"]:
            self.assertEqual(counter["per_request_field"], f"{counter['name']}_per_request")
        self.assertEqual(facts.SATURATED_FRACTION, listing["facts"]["saturated_fraction"])

    def test_kernel_metrics_read_the_fields_bench_lists(self):
        run = mr.Run("x", "epoll", 1, 128, data={"results": {"kernel_counters": {
            "server": {facts.per_request_field("context_switches"): 0.5},
            "loadgen": {facts.per_request_field("syscalls"): 2.0}}}})
        self.assertEqual(mr.metric(run, "server_cs_per_req"), 0.5)
        self.assertEqual(mr.metric(run, "loadgen_syscalls_per_req"), 2.0)
        self.assertIsNone(mr.metric(run, "server_syscalls_per_req"))


class FixturesTest(unittest.TestCase):
    def test_fixtures_are_what_the_generator_writes(self):
        """Catches hand-edited fixtures and a non-deterministic generator."""
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([PYTHON, str(FIXTURES / "make_fixtures.py"), f"--out={tmp}"],
                           check=True, capture_output=True)
            for made in sorted(Path(tmp).rglob("*.json")):
                committed = FIXTURES / made.relative_to(tmp)
                self.assertEqual(made.read_bytes(), committed.read_bytes(),
                                 f"{committed} differs from make_fixtures.py output")


def strip_optional_results(sweep):
    """Removes the fields the C++ side may not write yet, from every run of a sweep copy."""
    for file in (sweep / "runs").glob("*.json"):
        data = json.loads(file.read_text())
        for key in ("timeline", "latency_spectrum", "loadgen_saturated"):
            data["results"].pop(key, None)
        file.write_text(json.dumps(data))


if __name__ == "__main__":
    unittest.main()
