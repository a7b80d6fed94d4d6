#!/usr/bin/python3
"""Drawn server work (`bench --work-us=bimodal:...`) through the reporting scripts:
muxbench.results reads results.latency_by_work_class, plot.py (and so report.py) draws the
short requests' p99 against clients when any run has it, and not otherwise.

    /usr/bin/python3 -m unittest -v tests.test_work_classes     (from the repository root)
"""

import copy
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
FIXTURE = ROOT / "tests" / "fixtures" / "sweep-aa-base"
sys.path.insert(0, str(SCRIPTS))
from muxbench import results as mr  # noqa: E402

# (backend, clients, short p99 µs, long p99 µs)
POINTS = [("epoll", 10, 900.0, 2500.0), ("epoll", 100, 4000.0, 6000.0),
          ("threads", 10, 300.0, 2300.0), ("threads", 100, 700.0, 2900.0)]


def write_runs(directory, with_classes=True):
    """Loose `bench --json` files, one per point, from a fixture run."""
    base = json.loads(next((FIXTURE / "runs").glob("*.json")).read_text())
    directory.mkdir(parents=True)
    for backend, clients, short, long in POINTS:
        doc = copy.deepcopy(base)
        doc["config"].update(backend=backend, clients=clients, message_size=None, message_size_spec="uniform:1-256",
                             server_work_us=None, server_work_spec="bimodal:0.9:0:2000")
        if with_classes:
            doc["results"]["latency_by_work_class"] = {
                "split_us": 0.0, "work_us_spec": "bimodal:0.9:0:2000",
                "short": {"p50": short / 3, "p99": short, "requests": 900},
                "long": {"p50": long / 2, "p99": long, "requests": 100}}
        else:
            doc["results"]["latency_by_work_class"] = None
        (directory / f"{backend}-{clients}.json").write_text(json.dumps(doc))


class WorkClassesTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="muxbench-work-")
        self.addCleanup(self._tmp.cleanup)
        self.tmp = Path(self._tmp.name)

    def test_results_reads_the_classes_and_drawn_sizes(self):
        write_runs(self.tmp / "runs")
        sweep = mr.load_sweep(self.tmp / "runs")
        by_key = {(r.backend, r.clients): r for r in sweep.complete_runs}
        self.assertEqual(len(by_key), 4)
        for backend, clients, short, long in POINTS:
            run = by_key[(backend, clients)]
            self.assertEqual(mr.metric(run, "short_p99"), short)
            self.assertEqual(mr.metric(run, "long_p99"), long)
            self.assertEqual(run.message_size, 0)  # drawn sizes: config.message_size is null

    def test_plot_and_report_show_short_p99_when_a_run_has_it(self):
        write_runs(self.tmp / "with")
        for script in ("plot.py", "report.py"):
            done = subprocess.run([sys.executable, str(SCRIPTS / script), str(self.tmp / "with")],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue((self.tmp / "with" / "plots" / "short-p99-m0.png").stat().st_size > 1000)
        self.assertIn("p99 of short requests vs clients", (self.tmp / "with" / "report.md").read_text())

    def test_no_plot_without_classes(self):
        write_runs(self.tmp / "without", with_classes=False)
        done = subprocess.run([sys.executable, str(SCRIPTS / "plot.py"), str(self.tmp / "without")],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertFalse(list((self.tmp / "without" / "plots").glob("short-p99-*")))


if __name__ == "__main__":
    unittest.main()
