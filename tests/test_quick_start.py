"""The quick start (./scripts/bench) installs and builds only what `bench` needs: the run
packages are a strict subset of the whole list, hold nothing only the tests or the scripts use,
and the project configures and offers `bench` with GoogleTest, Google Benchmark and MPI absent
(simulated with CMAKE_DISABLE_FIND_PACKAGE_<name>, since the suite's machine has them)."""

import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What only the test suite, the sanitizer/fuzz builds, the scripts and the peers use.
TEST_ONLY = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev", "openmpi-bin", "libopenmpi-dev", "chromium",
             "clang-14", "libclang-rt-14-dev", "wrk", "nginx-light", "linux-perf", "python3-matplotlib",
             "python3-numpy", "python3-scipy", "python3-yaml", "ccache"}


def packages(*which):
    out = subprocess.run([str(ROOT / "scripts" / "setup"), "--list", *which], capture_output=True, text=True,
                         timeout=30, check=True)
    return out.stdout.split()


class QuickStart(unittest.TestCase):
    def test_the_run_packages_are_the_build_and_runtime_ones_only(self):
        run, everything = packages("run"), packages()
        self.assertTrue(set(run) < set(everything), (run, everything))
        self.assertEqual(set(run) & TEST_ONLY, set())
        self.assertEqual(TEST_ONLY - set(everything), set(), "the full list installs what the suite uses")
        for needed in ("g++", "cmake", "liburing-dev", "libfmt-dev", "libcli11-dev", "nlohmann-json3-dev"):
            self.assertIn(needed, run)

    def test_bench_configures_without_the_test_libraries(self):
        with tempfile.TemporaryDirectory() as build:
            out = subprocess.run(["cmake", "-S", str(ROOT), "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                                  "-DMUXBENCH_TESTS=OFF", "-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON",
                                  "-DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON", "-DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON"],
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("bench_micro is not built", out.stdout)
            targets = subprocess.run(["cmake", "--build", build, "--target", "help"], capture_output=True, text=True,
                                     timeout=60).stdout
            self.assertRegex(targets, r"(?m)^\.\.\. bench$")
            self.assertNotIn("bench_micro", targets)
            self.assertNotIn("unit_tests", targets)

    def test_setup_refuses_an_unknown_set(self):
        out = subprocess.run([str(ROOT / "scripts" / "setup"), "tests"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(out.stdout, "")
        self.assertIn("usage", out.stderr)


if __name__ == "__main__":
    unittest.main()
