#!/usr/bin/python3
"""Compares two muxbench sweeps and fails when the current one regressed.

    scripts/compare.py BASE_DIR CURRENT_DIR [--max-throughput-drop=PCT]
                       [--max-p99-rise=PCT] [--alpha=0.05] [--max-server-cpu-rise=PCT]
                       [--allow-different-machine]

For every configuration (backend, clients, message size) present in both sweeps, the
medians of throughput and p99 latency over the repetitions are compared, and a
two-sided Mann-Whitney U test asks whether the repetitions differ at all.  A current
sweep that lost a baseline configuration, left runs incomplete or saw failed requests
fails too: a gate must not pass because the thing it measures broke.
Low-noise signals where both sweeps have them (server CPU per request, the server's
syscalls and context switches per request) are compared the same way.  The two sweeps
must come from the same machine (their machine fingerprints match), else nothing is
compared.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from muxbench.gate import compare, options  # noqa: E402


def main(argv=None):
    args = options.parse_args(argv, description=__doc__.split("\n\n")[0])
    try:
        return compare.compare_sweeps(args)
    except Exception as e:  # noqa: BLE001 -- any crash exits 2, never 1 (a verdict) or 0
        print(f"compare.py: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
