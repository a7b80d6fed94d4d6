"""Where the `bench` binary is: one search order for every Python script and test.

1. $MUXBENCH_BENCH when it is set: CTest sets it to the binary of the build under test, and a
   user names any other build with it. When set, it is the only candidate: a test must not
   quietly run another build than the one it was told to.
2. build/bench in this checkout: scripts/build's default (Release) build, the one scripts/bench
   runs and the quick start builds.
3. build-test/bench in this checkout: the test build scripts/build --test (and scripts/test)
   makes.

The shell scripts run the build they make themselves (scripts/bench: build/bench; scripts/ci-perf:
its own builds of both commits).
"""

import json
import os
import subprocess
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]  # scripts/muxbench/bench_binary.py -> the checkout
VARIABLE = "MUXBENCH_BENCH"
BUILD_TREE = (CHECKOUT / "build" / "bench", CHECKOUT / "build-test" / "bench")
# Why a script or test that needs bench found none, and what to do about it.
MISSING = f"no bench binary: build it (scripts/build or scripts/build --test) or set {VARIABLE}"


def find_bench():
    """The bench binary (a Path) by the search order above; None when there is none."""
    named = os.environ.get(VARIABLE)
    for candidate in [named] if named else BUILD_TREE:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def bench_json(*args):
    """What `bench ARGS` prints, read as JSON; None without a bench binary, or where it fails (a
    build from before ARGS existed)."""
    bench = find_bench()
    if bench is None:
        return None
    try:
        out = subprocess.run([bench, *args], capture_output=True, text=True, timeout=30, check=True).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def require_bench():
    """find_bench, or RuntimeError(MISSING) when there is none."""
    found = find_bench()
    if found is None:
        raise RuntimeError(MISSING)
    return found
