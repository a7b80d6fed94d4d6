#!/usr/bin/python3
"""Tests of the CI gate's tooling: same-machine A/B sweeps, machine fingerprints, the low-noise
signals of compare.py, and scripts/ci-perf's bad input
(the GitHub workflow that calls it: tests/test_ci_workflow.py).

    /usr/bin/python3 -m unittest -v tests.test_ci_perf     (from the repository root)

The A/B sweep test needs a `bench` (muxbench.bench_binary.find_bench: MUXBENCH_BENCH, which
CTest sets, else a build in this checkout). Nothing here measures speed, and nothing builds muxbench: the ci-perf tests run
the script in a small throw-away git repository.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from muxbench.bench_binary import MISSING, find_bench  # noqa: E402

SCRIPTS = ROOT / "scripts"
FIXTURES = ROOT / "tests" / "fixtures"
PYTHON = sys.executable or "/usr/bin/python3"


def run(cmd, **kwargs):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)


class Temp(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="muxbench-ci-perf-test-")
        self.tmp = Path(self._tmp.name)
        self.addCleanup(self._tmp.cleanup)

    def copy(self, name):
        dest = self.tmp / name
        shutil.copytree(FIXTURES / name, dest)
        return dest


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_runs(sweep, change, only=""):
    """Applies change(run JSON) to every run file of a sweep copy whose name starts with `only`."""
    for file in sorted((sweep / "runs").glob(f"{only}*.json")):
        edit_json(file, change)


def compare(*args):
    return run([PYTHON, SCRIPTS / "compare.py", *args])


class SameMachineTest(Temp):
    """compare.py compares two sweeps only when their machine fingerprints match."""

    def test_differing_cpu_model_exits_2_naming_it(self):
        other = self.copy("sweep-aa-current")
        edit_json(other / "sweep.json",
                  lambda d: d["environment"]["machine_fingerprint"].update(cpu_model="Other CPU @ 2.00GHz"))
        result = compare(FIXTURES / "sweep-aa-base", other)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("cpu_model: 'Synthetic CPU @ 3.00GHz' vs 'Other CPU @ 2.00GHz'", lines[0])
        self.assertIn("ci-perf --base=REF", lines[0])
        self.assertNotIn("kernel", lines[0])   # names only what differs

    def test_allow_different_machine_compares_and_says_so_first(self):
        other = self.copy("sweep-aa-current")
        edit_json(other / "sweep.json",
                  lambda d: d["environment"]["machine_fingerprint"].update(kernel="Linux 6.9.0-other"))
        result = compare(FIXTURES / "sweep-aa-base", other, "--allow-different-machine")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        first = result.stdout.splitlines()[0]
        self.assertTrue(first.startswith("WARNING: compared across machines"), first)
        self.assertIn("kernel", first)

    def test_different_pinning_is_a_different_machine(self):
        other = self.copy("sweep-aa-current")
        edit_runs(other, lambda d: d["config"].update(server_cpus=[0, 1]))
        result = compare(FIXTURES / "sweep-aa-base", other)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("server_cpus: '[0]' vs '[0, 1]'", result.stderr)

    def test_missing_fingerprint_is_refused_unless_allowed(self):
        old = self.copy("sweep-aa-base")   # as results/baseline: measured before fingerprints
        edit_json(old / "sweep.json", lambda d: d["environment"].pop("machine_fingerprint"))
        result = compare(old, FIXTURES / "sweep-aa-current")
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn(f"BASE ({old}) recorded no machine fingerprint", result.stderr)
        allowed = compare(old, FIXTURES / "sweep-aa-current", "--allow-different-machine")
        self.assertEqual(allowed.returncode, 0, allowed.stderr)
        self.assertTrue(allowed.stdout.startswith("WARNING: compared across machines"), allowed.stdout)

    def test_fingerprint_falls_back_to_the_runs(self):
        sweep = self.copy("sweep-aa-base")
        meta = json.loads((sweep / "sweep.json").read_text())
        fingerprint = meta["environment"].pop("machine_fingerprint")
        (sweep / "sweep.json").write_text(json.dumps(meta))
        edit_runs(sweep, lambda d: d["environment"].update(machine_fingerprint=fingerprint))
        result = compare(sweep, FIXTURES / "sweep-aa-current")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("WARNING", result.stdout)


class LowNoiseSignalsTest(Temp):
    """Server CPU, syscalls and context switches per request gate too, each on its own."""

    def test_server_cpu_regression_alone_is_flagged(self):
        slower = self.copy("sweep-aa-current")
        edit_runs(slower, lambda d: d["results"].update(
            server_cpu_us_per_request=d["results"]["server_cpu_us_per_request"] * 1.2), only="poll-c10-")
        result = compare(FIXTURES / "sweep-aa-base", slower)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        regressions = [line for line in result.stdout.splitlines() if line.startswith("REGRESSION:")]
        self.assertEqual(len(regressions), 1, result.stdout)
        self.assertIn("poll-c10-m128", regressions[0])
        self.assertIn("server CPU/req +", regressions[0])
        self.assertIn("REGRESSION (server CPU/req)", result.stdout)   # the verdict column
        # below the threshold (5%): not flagged
        edit_runs(slower, lambda d: d["results"].update(
            server_cpu_us_per_request=d["results"]["server_cpu_us_per_request"] / 1.2 * 1.01), only="poll-c10-")
        self.assertEqual(compare(FIXTURES / "sweep-aa-base", slower).returncode, 0)

    def test_alpha_is_family_wise_over_configurations_and_signals(self):
        # 4 configurations x (throughput, p99, 3 low-noise signals) = 20 tests share alpha 0.05
        result = compare(FIXTURES / "sweep-aa-base", FIXTURES / "sweep-aa-current")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("alpha = 0.05 family-wise (0.0025 per test: 0.05 / 20 tests)", result.stdout)
        # 3 vs 3 repetitions cannot reach 0.0025 (their smallest p is 0.1): the all-worse rule
        self.assertIn("Use at least 6 repetitions per sweep", result.stdout)

    def test_a_run_that_did_not_measure_a_signal_leaves_the_others(self):
        current = self.copy("sweep-aa-current")
        edit_runs(current, lambda d: d["results"].update(server_cpu_us_per_request=None), only="poll-c10-m128-r0")
        result = compare(FIXTURES / "sweep-aa-base", current)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        row = next(line for line in result.stdout.splitlines()
                   if line.startswith("poll-c10-m128") and "→" in line and "µs" not in line)
        self.assertNotIn("not measured", row)

    def add_kernel_counters(self, sweep, syscalls, only=""):
        edit_runs(sweep, lambda d: d["results"].update(kernel_counters={"server": {
            "syscalls_per_request": syscalls, "context_switches_per_request": 0.01}}), only=only)

    def test_kernel_counters_gate_when_both_sweeps_have_them(self):
        base, current = self.copy("sweep-aa-base"), self.copy("sweep-aa-current")
        self.add_kernel_counters(base, 2.0)
        self.add_kernel_counters(current, 2.0)
        self.add_kernel_counters(current, 2.5, only="epoll-c10-")     # +25% syscalls per request
        result = compare(base, current)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("syscalls/req base → current", result.stdout)
        self.assertIn("ctx switches/req base → current", result.stdout)
        regressions = [line for line in result.stdout.splitlines() if line.startswith("REGRESSION:")]
        self.assertEqual(len(regressions), 1, result.stdout)
        self.assertIn("epoll-c10-m128", regressions[0])
        self.assertIn("syscalls/req +25.0%", regressions[0])
        # a looser threshold lets it pass
        self.assertEqual(compare(base, current, "--max-syscalls-rise=30").returncode, 0)

    def test_kernel_counters_in_one_sweep_only_are_not_compared(self):
        current = self.copy("sweep-aa-current")
        self.add_kernel_counters(current, 9.0)
        result = compare(FIXTURES / "sweep-aa-base", current)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("syscalls/req", result.stdout)
        self.assertIn("server CPU/req base → current", result.stdout)


class PairedGridTest(Temp):
    """The whole grid: the back-to-back pairs of one interleaved sweep, one signed-rank test."""

    def paired(self, cpu_factor, tput_factor=1.0):
        """A base and a current sweep made as one interleaved sweep (same seed, each run's twin
        next to it), the current's runs scaled by the factors."""
        base, current = self.copy("sweep-aa-base"), self.tmp / "paired-current"
        shutil.copytree(base, current)
        edit_json(base / "sweep.json", lambda d: [r.update(order=2 * r["order"]) for r in d["runs"]])
        edit_json(current / "sweep.json", lambda d: [r.update(order=2 * r["order"] + 1) for r in d["runs"]])
        edit_runs(current, lambda d: d["results"].update(
            server_cpu_us_per_request=d["results"]["server_cpu_us_per_request"] * cpu_factor,
            throughput_rps=d["results"]["throughput_rps"] * tput_factor))
        return base, current

    def test_a_shift_below_every_configurations_threshold_is_caught_over_the_grid(self):
        base, current = self.paired(cpu_factor=1.04)     # +4%: under the 5% per configuration, over 2%
        result = compare(base, current)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        regressions = [line for line in result.stdout.splitlines() if line.startswith("REGRESSION:")]
        self.assertEqual(len(regressions), 1, result.stdout)
        self.assertIn("the whole grid: server CPU/req +4.0% over 12 paired runs", regressions[0])
        self.assertNotIn("REGRESSION (", result.stdout)   # no configuration alone

    def test_within_the_grid_threshold_passes(self):
        result = compare(*self.paired(cpu_factor=1.01, tput_factor=0.97))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("server CPU/req: +1.0%", result.stdout)
        self.assertIn("throughput: -3.0%", result.stdout)

    def test_a_throughput_drop_over_the_grid(self):
        result = compare(*self.paired(cpu_factor=1.0, tput_factor=0.93))
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("the whole grid: throughput -7.0%", result.stdout)

    def test_sweeps_not_interleaved_have_no_pairs(self):
        result = compare(FIXTURES / "sweep-aa-base", FIXTURES / "sweep-aa-current")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("the whole grid: no paired runs", result.stdout)


@unittest.skipIf(find_bench() is None, MISSING)
class ABSweepTest(Temp):
    """`bench sweep --builds`: two builds' runs alternate in one sweep, each build its own directory."""

    def sweep(self, out, *extra):
        bench = find_bench()
        return run([bench, "sweep", f"--builds=a={bench},b={bench}", "--backends=epoll", "--clients=2",
                    "--repetitions=2", "--duration=0.2", "--warmup=0", "--seed=11", f"--out={out}", *extra])

    def test_builds_alternate_and_compare_on_one_machine(self):
        out = self.tmp / "ab"
        result = self.sweep(out, "--build-flags=b=--work-us=0.5")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        plans = {name: json.loads((out / name / "sweep.json").read_text()) for name in ("a", "b")}
        for name, plan in plans.items():
            self.assertEqual(plan["build"]["name"], name)
            self.assertEqual([r["status"] for r in plan["runs"]], ["complete"] * 2)
            for f in ("summary.json", "benchmark.json", "bmf.json", "results.csv"):
                self.assertTrue((out / name / f).is_file(), f"{name}/{f}")
            self.assertEqual(plan["environment"]["machine_fingerprint"]["online_cores"], os.cpu_count())
        # blocked randomization: positions 2k and 2k+1 are one (configuration, repetition) unit,
        # measured once by each build
        position = {r["order"]: (name, r["id"]) for name, plan in plans.items() for r in plan["runs"]}
        self.assertEqual(sorted(position), [0, 1, 2, 3])
        for k in (0, 2):
            (b1, id1), (b2, id2) = position[k], position[k + 1]
            self.assertEqual({b1, b2}, {"a", "b"})
            self.assertEqual(id1, id2)
        # the per-build flag reached build b's runs only
        work = {name: json.loads((out / name / "runs" / "epoll-c2-m128-r0.json").read_text())["config"]["server_work_us"]
                for name in ("a", "b")}
        self.assertEqual(work, {"a": 0, "b": 0.5})
        # compare.py accepts the pair: same machine, no warning
        compared = compare(out / "a", out / "b")
        self.assertIn(compared.returncode, (0, 1), compared.stdout + compared.stderr)
        self.assertNotIn("WARNING", compared.stdout)
        self.assertIn("epoll-c2-m128", compared.stdout)
        # the same command again resumes: nothing is measured twice
        again = self.sweep(out, "--build-flags=b=--work-us=0.5")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(json.loads((out / "a" / "sweep.json").read_text())["runs"], plans["a"]["runs"])
        # and other builds in the same directory are refused
        other = self.sweep(out)
        self.assertEqual(other.returncode, 2)
        self.assertIn("different sweep", other.stderr)

    def test_bad_builds_exit_2_with_one_line(self):
        bench = find_bench()
        cases = {
            f"--builds=a={bench}": "two or more",
            f"--builds=a={self.tmp}/missing,b={bench}": "not an executable",
            f"--builds=a={bench},a={bench}": "given twice",
            f"--builds={bench}": "not NAME=PATH",
        }
        for flag, message in cases.items():
            result = run([bench, "sweep", flag, f"--out={self.tmp}/x"])
            self.assertEqual(result.returncode, 2, flag)
            self.assertEqual(result.stdout, "", flag)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertIn(message, result.stderr, flag)
        result = run([bench, "sweep", f"--builds=a={bench},b={bench}", "--build-flags=c=--work-us=1",
                      f"--out={self.tmp}/x"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("NAME one of --builds", result.stderr)
        self.assertFalse((self.tmp / "x").exists())


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


class CiPerfBadInputTest(Temp):
    """scripts/ci-perf in a throw-away repository: refuses bad input before building, and leaves
    no worktree behind when the base fails to build."""

    def make_repo(self, cmake_text):
        repo = self.tmp / "repo"
        (repo / "scripts").mkdir(parents=True)
        for script in ("ci-perf", "setup"):
            shutil.copy2(SCRIPTS / script, repo / "scripts" / script)
        (repo / "CMakeLists.txt").write_text(cmake_text)
        (repo / "main.cpp").write_text("int main() { return 0; }\n")
        git(repo, "init", "-q")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
        return repo

    def ci_perf(self, repo, *args):
        env = dict(os.environ, MUXBENCH_BUILD_ROOT=str(self.tmp / "builds"))
        return run([repo / "scripts" / "ci-perf", *args], env=env)

    def test_unresolvable_ref_exits_2_before_building_anything(self):
        repo = self.make_repo("message(FATAL_ERROR \"must not be configured\")\n")
        worktrees = git(repo, "worktree", "list")
        result = self.ci_perf(repo, "--base=no-such-ref", f"--out={self.tmp}/out")
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn("--base=no-such-ref: no such commit", result.stderr)
        self.assertEqual(git(repo, "worktree", "list"), worktrees)
        self.assertFalse((self.tmp / "builds").exists())
        self.assertFalse((self.tmp / "out").exists())

    def test_update_baseline_refuses_uncommitted_changes(self):
        repo = self.make_repo("message(FATAL_ERROR \"must not be configured\")\n")
        (repo / "main.cpp").write_text("int main() { return 1; }\n")
        result = self.ci_perf(repo, "--update-baseline")
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn("uncommitted changes", result.stderr)

    def test_bad_flags_exit_2(self):
        repo = self.make_repo("")
        for args, message in ((["--bogus"], "unknown argument"), (["--repetitions=0"], "positive"),
                              (["--baseline", "--base=HEAD"], "A/B mode"),
                              ([f"--out={repo}"], "not empty")):
            result = self.ci_perf(repo, *args)
            self.assertEqual(result.returncode, 2, args)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertIn(message, result.stderr)

    @unittest.skipIf(shutil.which("cmake") is None or shutil.which("g++") is None, "needs cmake and g++")
    def test_base_that_does_not_build_shows_its_log_and_leaves_no_worktree(self):
        good = ("cmake_minimum_required(VERSION 3.13)\nproject(t CXX)\n"
                "add_executable(bench main.cpp)\n")
        repo = self.make_repo("cmake_minimum_required(VERSION 3.13)\nproject(t CXX)\n"
                              "message(FATAL_ERROR \"base broken on purpose\")\n")
        base = git(repo, "rev-parse", "HEAD").strip()
        (repo / "CMakeLists.txt").write_text(good)
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fixed")
        worktrees = git(repo, "worktree", "list")
        leftovers = set(Path("/tmp").glob("muxbench-ci-perf-*"))
        result = self.ci_perf(repo, f"--base={base}", f"--out={self.tmp}/out")
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(f"ci-perf: base {base} ({base}) does not build; the last lines of its build log",
                      result.stderr)
        self.assertIn("base broken on purpose", result.stderr)
        self.assertEqual(git(repo, "worktree", "list"), worktrees)
        self.assertEqual(set(Path("/tmp").glob("muxbench-ci-perf-*")) - leftovers, set())
        self.assertFalse((self.tmp / "builds" / "build-ab" / base / "bench").exists())


if __name__ == "__main__":
    unittest.main()
