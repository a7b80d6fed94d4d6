#!/usr/bin/python3
"""A rate sweep (`bench sweep --rates=...`) through the reporting scripts: the latency-load
points, the knee and the "short of target" marking, computed here by hand, and plot.py /
report.py writing the latency-vs-rate plot and section. And compare.py gating on a capacity
sweep's capacity (`bench sweep --capacity=SLO`).

    /usr/bin/python3 -m unittest -v tests.test_rate_sweep     (from the repository root)
"""

import copy
import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
FIXTURE = ROOT / "tests" / "fixtures" / "sweep-aa-base"
sys.path.insert(0, str(SCRIPTS))
from muxbench import facts  # noqa: E402
from muxbench import results as mr  # noqa: E402
from muxbench import stats  # noqa: E402

# (rate label, target, achieved, p99 µs) for one backend at 10 clients; two repetitions each.
CURVE = [("25%", 25_000, 25_100, 40.0), ("50%", 50_000, 49_900, 60.0),
         ("90%", 90_000, 88_000, 110.0), ("110%", 110_000, 95_000, 9_000.0)]


def make_rate_sweep(directory):
    """A sweep directory as `bench sweep --rates=25%,50%,90%,110%` writes it, from a fixture run."""
    base = json.loads(next((FIXTURE / "runs").glob("*.json")).read_text())
    (directory / "runs").mkdir(parents=True)
    runs = []
    for rate, target, achieved, p99 in CURVE:
        for rep in range(2):
            doc = copy.deepcopy(base)
            doc["config"].update(backend="epoll", clients=10, message_size=128, rate=target, load_model="open")
            res = doc["results"]
            res.update(target_rps=target, throughput_rps=achieved + rep,  # medians: achieved + 0.5
                       achieved_fraction_of_target=achieved / target)
            res["latency_us"].update(p50=p99 / 4, p99=p99, p999=p99 * 1.5)
            rid = f"epoll-c10-m128-q{rate[:-1]}pct-r{rep}"
            (directory / "runs" / f"{rid}.json").write_text(json.dumps(doc))
            runs.append({"id": rid, "backend": "epoll", "clients": 10, "message_size": 128, "rate": rate,
                         "repetition": rep, "order": len(runs), "status": "complete",
                         "file": f"runs/{rid}.json"})
    meta = json.loads((FIXTURE / "sweep.json").read_text())
    meta.update(backends=["epoll"], clients=[10], rates=["", *[c[0] for c in CURVE]], repetitions=2,
                runs=runs)
    (directory / "sweep.json").write_text(json.dumps(meta))


class RateSweepTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="muxbench-rates-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = Path(self._tmp.name) / "sweep"
        make_rate_sweep(self.dir)

    def test_points_knee_and_short_runs(self):
        sweep = mr.load_sweep(self.dir)
        self.assertEqual(sweep.groups(), {})  # no closed-loop run in this directory
        groups = sweep.rate_groups()
        self.assertEqual(len(groups), 4)
        points = stats.rate_points({k[3]: runs for k, runs in groups.items()})
        self.assertEqual([p.rate for p in points], ["25%", "50%", "90%", "110%"])  # by offered rate
        self.assertEqual([p.achieved for p in points], [c[2] + 0.5 for c in CURVE])
        self.assertEqual([p.p99 for p in points], [c[3] for c in CURVE])
        # 110%: 95,000 of 110,000 is 86%, short in both repetitions; 90%: 97.8%, not short.
        self.assertEqual([p.short_runs for p in points], [0, 0, 0, 2])
        # p99 at the lowest rate is 40 µs: 60 and 110 are within 3x (120), 9,000 is not.
        self.assertEqual(stats.latency_knee(points).rate, "90%")
        self.assertEqual(facts.config_id(next(iter(groups))), "epoll-c10-m128-q25pct")

    def test_plot_and_report_show_the_curve(self):
        for script in ("plot.py", "report.py"):
            done = subprocess.run([sys.executable, str(SCRIPTS / script), str(self.dir)],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(done.returncode, 0, done.stderr)
        png = self.dir / "plots" / "latency-vs-rate-m128-c10.png"
        self.assertEqual(png.read_bytes()[:4], b"\x89PNG")
        report = (self.dir / "report.md").read_text()
        self.assertIn("## Latency against offered load", report)
        self.assertIn("knee at 88.0k req/s achieved (90% offered)", report)
        self.assertIn("| 2 of 2 |", report)


class CapacityGateTest(unittest.TestCase):
    """compare.py on two capacity sweeps: the fixtures' runs with results.capacity_rps added."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="muxbench-capacity-")
        self.addCleanup(self._tmp.cleanup)
        self.tmp = Path(self._tmp.name)

    def sweep(self, name, capacity_of):
        dest = self.tmp / name
        shutil.copytree(ROOT / "tests" / "fixtures" / name, dest)
        for file in (dest / "runs").glob("*.json"):
            doc = json.loads(file.read_text())
            doc["results"]["capacity_rps"] = capacity_of(file.stem)
            file.write_text(json.dumps(doc))
        return dest

    def compare(self, base, current):
        return subprocess.run([sys.executable, str(SCRIPTS / "compare.py"), str(base), str(current)],
                              capture_output=True, text=True, timeout=300)

    def test_a_capacity_drop_in_every_repetition_is_a_regression(self):
        # The fixtures' repetitions end in -r0..-r2: spread each side's capacity a little.
        spread = lambda stem: 1000 * int(stem[-1])
        base = self.sweep("sweep-aa-base", lambda stem: 50_000 + spread(stem))
        same = self.sweep("sweep-aa-current", lambda stem: 50_500 + spread(stem))
        done = self.compare(base, same)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("(0.0021 per test: 0.05 / 24 tests)", done.stdout)  # 4 configs x 6 tests
        shutil.rmtree(same)
        dropped = self.sweep("sweep-aa-current",
                             lambda stem: (30_000 if stem.startswith("epoll-c10-") else 50_500) + spread(stem))
        done = self.compare(base, dropped)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        regression = [line for line in done.stdout.splitlines() if line.startswith("REGRESSION")]
        self.assertEqual(len(regression), 1, done.stdout)
        self.assertIn("epoll-c10-m128", regression[0])
        self.assertIn("capacity -", regression[0])


if __name__ == "__main__":
    unittest.main()
