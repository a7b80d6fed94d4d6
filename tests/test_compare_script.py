#!/usr/bin/python3
"""Tests of scripts/compare.py, the regression gate, on the fixtures: an A/A comparison passes,
a regression exits 1 naming its configuration, bad input exits 2 with one line, and a current
sweep that lost configurations, runs or requests fails the gate.

    /usr/bin/python3 -m unittest -v tests.test_compare_script     (from the repository root)

Run by CTest's python_scripts with tests.test_scripts, whose helpers it shares.
"""

import json
import shutil
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_scripts import FIXTURES, TempCopy, edit_plan, edit_run, run  # noqa: E402


class CompareTest(TempCopy):
    def test_aa_comparison_finds_no_regression(self):
        result = run("compare.py", FIXTURES / "sweep-aa-base", FIXTURES / "sweep-aa-current")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("REGRESSION", result.stdout)
        self.assertIn("ALL current repetitions are worse than ALL baseline", result.stdout)

    def test_regression_exits_1_and_names_the_configuration(self):
        result = run("compare.py", FIXTURES / "sweep-aa-base", FIXTURES / "sweep-regressed")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        regressions = [l for l in result.stdout.splitlines() if l.startswith("REGRESSION:")]
        self.assertEqual(len(regressions), 1, result.stdout)
        self.assertIn("epoll-c100-m128", regressions[0])

    def test_bad_input_exits_2(self):
        single = self.copy("sweep-aa-current")
        meta = json.loads((single / "sweep.json").read_text())
        meta["runs"] = [r for r in meta["runs"] if r["repetition"] == 0]
        (single / "sweep.json").write_text(json.dumps(meta))
        cases = {"no such directory": (self.tmp / "missing", FIXTURES / "sweep-aa-base"),
                 "significance cannot be tested": (FIXTURES / "sweep-aa-base", single)}
        for message, dirs in cases.items():
            result = run("compare.py", *dirs)
            self.assertEqual(result.returncode, 2, result.stdout)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertIn(message, result.stderr)

    def test_no_common_configuration_exits_2(self):
        other = self.copy("sweep-aa-current")
        meta = json.loads((other / "sweep.json").read_text())
        for r in meta["runs"]:
            r["message_size"] = 4096
        (other / "sweep.json").write_text(json.dumps(meta))
        result = run("compare.py", FIXTURES / "sweep-aa-base", other)
        self.assertEqual(result.returncode, 2)
        self.assertIn("no configuration", result.stderr)


class CompletenessGateTest(TempCopy):
    """A current sweep that lost configurations, runs or requests fails the gate (exit 1)."""

    def compare(self, current):
        return run("compare.py", FIXTURES / "sweep-aa-base", current)

    def assert_regression(self, result, *reasons):
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        lines = [l for l in result.stdout.splitlines() if l.startswith("REGRESSION:")]
        for reason in reasons:
            self.assertTrue(any(reason in l for l in lines), f"{reason!r} not in {lines}")

    def test_configuration_missing_from_the_plan(self):
        current = self.copy("sweep-aa-current")
        edit_plan(current, lambda runs: [r for r in runs
                                         if (r["backend"], r["clients"]) != ("epoll", 100)])
        self.assert_regression(self.compare(current),
                               "epoll-c100-m128 completed in BASE but has no complete run in "
                               "CURRENT: not in its plan")

    def test_configuration_whose_runs_all_failed(self):
        current = self.copy("sweep-aa-current")
        def fail(runs):
            for r in runs:
                if (r["backend"], r["clients"]) == ("epoll", 100):
                    r.update(status="failed", error="exit status 1: server crashed")
            return runs
        edit_plan(current, fail)
        self.assert_regression(self.compare(current), "epoll-c100-m128 completed in BASE",
                               "epoll-c100-m128-r0 failed: exit status 1: server crashed")

    def test_lost_repetition_and_incomplete_run(self):
        current = self.copy("sweep-aa-current")
        def fail_one(runs):
            next(r for r in runs if r["id"] == "poll-c10-m128-r1").update(
                status="failed", error="exit status 1: server crashed")
            return runs
        edit_plan(current, fail_one)
        edit_run(current, "poll-c100-m128-r2",
                 lambda d: d.update(complete=False, incomplete_reason="interrupted"))
        result = self.compare(current)
        self.assert_regression(result,
                               "poll-c10-m128-r1 did not complete in CURRENT: failed: exit "
                               "status 1",
                               "poll-c100-m128-r2 did not complete in CURRENT: incomplete: "
                               "interrupted")
        self.assertIn("3/2", result.stdout)   # the remaining repetitions are still compared

    def test_failed_requests(self):
        current = self.copy("sweep-aa-current")
        def errors(data):
            data["results"]["errors"] = 7
            data["results"]["errors_by_kind"]["timeout"] = 7
        edit_run(current, "epoll-c10-m128-r0", errors)
        self.assert_regression(self.compare(current),
                               "epoll-c10-m128-r0 in CURRENT: 7 failed requests (timeout 7)")

    def test_configurations_only_in_current_are_reported_not_regressions(self):
        current = self.copy("sweep-aa-current")
        def extend(runs):
            extra = []
            for r in [r for r in runs if (r["backend"], r["clients"]) == ("epoll", 100)]:
                new_id = r["id"].replace("-c100-", "-c1000-")
                shutil.copy(current / r["file"], current / "runs" / f"{new_id}.json")
                extra.append(dict(r, id=new_id, clients=1000, file=f"runs/{new_id}.json"))
                # a configuration neither sweep could run (skipped on both) is no regression
                extra.append(dict(r, id=r["id"].replace("epoll", "io_uring"), backend="io_uring",
                                  status="skipped", error="io_uring unavailable", file=""))
            return runs + extra
        edit_plan(current, extend)
        result = self.compare(current)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("not compared (only in CURRENT): epoll-c1000-m128", result.stdout)
        self.assertNotIn("REGRESSION", result.stdout)

    def test_internal_failure_exits_2_not_1(self):
        breakages = (("a string throughput", lambda d: d["results"].update(throughput_rps="fast")),
                     ("results not an object", lambda d: d.update(results=[])))
        for name, breakage in breakages:
            with self.subTest(name):
                current = self.tmp / name.replace(" ", "-")
                shutil.copytree(FIXTURES / "sweep-aa-current", current)
                edit_run(current, "epoll-c100-m128-r1", breakage)
                result = self.compare(current)
                self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.assertIn("internal error", result.stderr)
                self.assertNotIn("REGRESSION", result.stdout)


if __name__ == "__main__":
    unittest.main()
