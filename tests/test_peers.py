"""muxbench against trusted peers: wrk must find nothing wrong with any backend's HTTP
server, and muxbench's load generator must find nothing wrong with nginx."""

import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from muxbench import peers, registry  # noqa: E402
from muxbench.bench_binary import MISSING  # noqa: E402

# Every registry entry, variants included (`bench --list-backends --json`).
BACKENDS = [e["name"] for e in (registry.entries() or []) if e["available"]]


class WrkAgainstBenchServe(unittest.TestCase):
    def test_every_backend_serves_wrk_without_errors(self):
        if not BACKENDS:
            self.skipTest(MISSING)
        for backend in BACKENDS:
            with self.subTest(backend=backend), peers.bench_serve(backend) as server:
                wrk = peers.run_wrk(server.port, connections=50, duration=1)
                self.assertEqual(wrk["socket_errors"], 0, wrk["output"])
                self.assertEqual(wrk["non2xx"], 0, wrk["output"])
                self.assertGreater(wrk["rps"], 0, wrk["output"])


class BenchLoadAgainstNginx(unittest.TestCase):
    def test_bench_load_http_against_nginx_has_no_errors(self):
        with peers.nginx() as server:
            result = peers.run_bench_load(server.port, connections=50, duration=1, warmup=0.2)
        self.assertEqual(result["errors"], 0)
        self.assertGreater(result["rps"], 0)


class Crosscheck(unittest.TestCase):
    SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "crosscheck"

    def test_prints_one_row_per_server_without_errors(self):
        out = subprocess.run([sys.executable, str(self.SCRIPT), "--duration=1", "--connections=20",
                              "--backends=epoll", "--work-us=1"], capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = [line.split() for line in out.stdout.splitlines()
                if line.startswith(("nginx ", "bench serve epoll ", "epoll +1 µs/req "))]
        self.assertEqual(len(rows), 3 * 2, f"a row per server and load I/O model:\n{out.stdout}")
        self.assertEqual(sorted(row[-11] for row in rows), ["epoll"] * 3 + ["io_uring"] * 3, out.stdout)
        for row in rows:
            self.assertEqual(row[-1], "0", f"errors in {row}")
            self.assertGreater(float(row[-2]), 0, f"no server CPU per request in {row}")

    @unittest.skipIf(peers.cpu_limit_unavailable(), "no writable cgroup cpu controller here")
    def test_server_cpu_limit_caps_every_server_and_cleans_up(self):
        out = subprocess.run([sys.executable, str(self.SCRIPT), "--duration=1", "--connections=20",
                              "--backends=epoll", "--loadgen-io=io_uring", "--server-cpu-limit=30"], capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("capped at 30% of it", out.stdout)
        rows = [line.split() for line in out.stdout.splitlines() if line.startswith(("nginx ", "bench serve epoll "))]
        self.assertEqual(len(rows), 2, out.stdout)
        for row in rows:
            self.assertEqual(row[-1], "0", f"errors in {row}")
            self.assertLessEqual(float(row[-4].rstrip("%")), 40, f"server not capped at 30%: {row}")
        root, _ = peers._cpu_cgroup_root()
        self.assertEqual(list(root.glob("muxbench-crosscheck-*")), [], "a cgroup was left behind")

    def test_bad_input_exits_2_with_one_line(self):
        for bad in ("--repetitions=0", "--connections=0", "--duration=0.5", "--work-us=-1", "--server-cpu-limit=101",
                    "--loadgen-io=kqueue"):
            out = subprocess.run([sys.executable, str(self.SCRIPT), bad], capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 2, bad)
            self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)


if __name__ == "__main__":
    unittest.main()
