#!/usr/bin/python3
"""report.html as a reader sees it: rendered in headless Chromium (Debian's `chromium`,
installed by scripts/setup), every image must load and the console must stay silent; the
ranking at its top is checked against the fixture's numbers computed here.

    /usr/bin/python3 -m unittest -v tests.test_report_browser     (from the repository root)

The check runs in a page of the test's own that loads the report in an iframe and lists the
images that did not decode; console messages are read from Chromium's log. A control page with
a missing image and a script error proves the check can fail.
"""

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
FIXTURE = ROOT / "tests" / "fixtures" / "sweep-aa-base"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags Chromium needs on a machine without a network, display or D-Bus.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom"]
CHECKER = """<html><body><iframe id="f" src="PAGE"></iframe><pre id="out">not loaded</pre><script>
document.getElementById("f").onload = () => {
  const images = Array.from(document.getElementById("f").contentDocument.images);
  document.getElementById("out").textContent = JSON.stringify({images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 80))});
};
</script></body></html>"""


def render(page):
    """{images, broken, console}: what Chromium saw loading `page` (a file in its directory)."""
    checker = page.parent / "browser-check.html"
    checker.write_text(CHECKER.replace("PAGE", page.name))
    with tempfile.TemporaryDirectory(prefix="muxbench-chromium-") as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", checker.as_uri()],
                              capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="out">([^<]*)</pre>', done.stdout)
    result = json.loads(found.group(1)) if found and found.group(1).startswith("{") else {"images": None}
    result["console"] = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return result


@unittest.skipUnless(Path(CHROMIUM).exists(), "chromium is not installed: run scripts/setup")
class ReportInBrowserTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="muxbench-report-")
        self.addCleanup(self._tmp.cleanup)
        self.sweep = Path(self._tmp.name) / "sweep"
        shutil.copytree(FIXTURE, self.sweep)

    def test_every_image_loads_and_the_console_is_silent(self):
        done = subprocess.run([sys.executable, str(SCRIPTS / "report.py"), str(self.sweep)],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr)
        page = self.sweep / "report.html"
        expected_images = len(re.findall(r"<img\b", page.read_text(encoding="utf-8")))
        self.assertGreater(expected_images, 3)
        seen = render(page)
        self.assertEqual(seen["images"], expected_images, seen)
        self.assertEqual(seen["broken"], [], seen)
        self.assertEqual(seen["console"], [], seen)

    def test_the_check_fails_on_a_broken_page(self):
        bad = self.sweep / "bad.html"
        bad.write_text('<html><body><img alt="gone" src="missing.png">'
                       '<script>undefinedFunction();</script></body></html>')
        seen = render(bad)
        self.assertEqual(seen["broken"], ["gone"], seen)
        self.assertTrue(any("undefinedFunction" in line for line in seen["console"]), seen)


class RankingTest(unittest.TestCase):
    def test_the_summary_ranks_each_client_count_by_median_throughput(self):
        with tempfile.TemporaryDirectory(prefix="muxbench-report-") as tmp:
            sweep = Path(tmp) / "sweep"
            shutil.copytree(FIXTURE, sweep)
            done = subprocess.run([sys.executable, str(SCRIPTS / "report.py"), str(sweep)],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(done.returncode, 0, done.stderr)
            md = (sweep / "report.md").read_text(encoding="utf-8")
            # The medians, from the fixture's run files.
            medians = {}
            for entry in json.loads((sweep / "sweep.json").read_text())["runs"]:
                doc = json.loads((sweep / entry["file"]).read_text())
                medians.setdefault((entry["clients"], entry["backend"]), []).append(
                    doc["results"]["throughput_rps"])
            summary = md[md.index("## Summary"):md.index("## Caveats")]
            for clients in sorted({c for c, _ in medians}):
                expected = sorted((b for c, b in medians if c == clients),
                                  key=lambda b: -statistics.median(medians[(clients, b)]))
                rows = [line.split("|") for line in summary.splitlines()
                        if line.startswith("| 128 B | " + f"{clients:,} |")]
                self.assertEqual([r[4].strip() for r in rows], expected, summary)
                self.assertEqual(rows[0][7].strip(), "1.00×")


if __name__ == "__main__":
    unittest.main()
