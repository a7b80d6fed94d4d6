#!/usr/bin/python3
"""The GitHub workflow of the CI gate, .github/workflows/perf.yml: valid, and calling scripts that
exist with flags they accept.

    /usr/bin/python3 -m unittest -v tests.test_ci_workflow     (from the repository root)
"""

import os
import re
import subprocess
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def run(cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300)


class WorkflowTest(unittest.TestCase):
    """.github/workflows/perf.yml is not run here: check it is valid and calls what exists."""

    def setUp(self):
        self.workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "perf.yml").read_text())
        self.steps = [s for job in self.workflow["jobs"].values() for s in job["steps"]]
        self.commands = "\n".join(s.get("run", "") for s in self.steps)

    def test_runs_on_pull_requests_with_full_history(self):
        triggers = self.workflow.get("on", self.workflow.get(True))   # YAML 1.1 reads `on` as true
        self.assertIn("pull_request", triggers)
        checkout = next(s for s in self.steps if s.get("uses", "").startswith("actions/checkout@"))
        self.assertEqual(checkout["with"]["fetch-depth"], 0)

    def test_calls_existing_scripts_with_flags_they_accept(self):
        called = set(re.findall(r"scripts/([\w.-]+)", self.commands))
        self.assertIn("ci-perf", called)
        for script in called:
            self.assertTrue(os.access(SCRIPTS / script, os.X_OK), f"scripts/{script} missing or not executable")
        usage = run([SCRIPTS / "ci-perf", "--help"])
        self.assertEqual(usage.returncode, 0, usage.stderr)
        accepted = set(re.findall(r"(--[a-z][a-z-]*)", usage.stdout))
        for line in re.findall(r"scripts/ci-perf([^\n]*)", self.commands):
            flags = re.findall(r"(?<!\S)(--[a-z][a-z-]*)", line)
            self.assertIn("--base", flags)
            for flag in flags:
                self.assertIn(flag, accepted, f"ci-perf does not accept {flag}")

    def test_summary_and_artifacts(self):
        self.assertIn("GITHUB_STEP_SUMMARY", self.commands)
        self.assertIn("perf-out/compare.txt", self.commands)
        upload = next(s for s in self.steps if s.get("uses", "").startswith("actions/upload-artifact@"))
        paths = upload["with"]["path"]
        self.assertIn("perf-out/*/benchmark.json", paths)
        self.assertIn("perf-out/*/bmf.json", paths)


if __name__ == "__main__":
    unittest.main()
