"""Are two sweeps from the same machine?  Numbers from two machines are not comparable.

Every result `bench` writes carries environment.machine_fingerprint (CPU model, cores,
kernel, virtualization, compiler, build type); each run's config adds the pinning.
compare.py compares two sweeps only when these match (see results/README.md).
"""

import json

from muxbench import results as mr
from muxbench.facts import FINGERPRINT_FIELDS, PINNING_FIELDS

SAME_MACHINE_ADVICE = ("measure both builds on one machine with `scripts/ci-perf --base=REF`, "
                       "or pass --allow-different-machine")


def machine_fingerprint(sweep):
    """{field: value} of a sweep's machine, or None when it recorded no fingerprint.

    From sweep.json's environment, else the first run that has one; pinning from the runs'
    config (a sweep pinned differently across runs shows every variant).
    """
    envs = [sweep.meta.get("environment") or {}] + [r.environment for r in sweep.complete_runs]
    recorded = next((e["machine_fingerprint"] for e in envs
                     if isinstance(e.get("machine_fingerprint"), dict)), None)
    if recorded is None:
        return None
    fingerprint = {f: recorded.get(f, "unknown") for f in FINGERPRINT_FIELDS}
    for f in PINNING_FIELDS:
        seen = sorted({json.dumps(r.config.get(f)) for r in sweep.complete_runs if f in r.config})
        fingerprint[f] = " or ".join(seen) if seen else "unknown"
    return fingerprint


def fingerprint_differences(base_fp, current_fp):
    """["field: 'base' vs 'current'", ...] for every field that differs."""
    return [f"{f}: {base_fp[f]!r} vs {current_fp[f]!r}" for f in base_fp
            if base_fp[f] != current_fp.get(f)]


def check_same_machine(base, current, allow_different):
    """None when both sweeps come from one machine; else, with allow_different, the warning
    line for the top of the report; without it, raises InputError (exit 2) naming the
    fields that differ."""
    fps = {"BASE": machine_fingerprint(base), "CURRENT": machine_fingerprint(current)}
    missing = [name for name, fp in fps.items() if fp is None]
    if missing:
        paths = {"BASE": base.path, "CURRENT": current.path}
        problem = (f"{' and '.join(f'{name} ({paths[name]})' for name in missing)} recorded no "
                   f"machine fingerprint (measured before bench recorded one), so the machines "
                   f"cannot be shown to match")
    else:
        diffs = fingerprint_differences(fps["BASE"], fps["CURRENT"])
        if not diffs:
            return None
        problem = f"the sweeps come from different machines ({'; '.join(diffs)})"
    if allow_different:
        return (f"WARNING: compared across machines (--allow-different-machine): {problem}; "
                f"differences may be the machine's, not the code's")
    raise mr.InputError(f"{problem}; {SAME_MACHINE_ADVICE}")
