"""muxbench against trusted peers: wrk must find nothing wrong with any backend's HTTP
server, and muxbench's load generator must find nothing wrong with nginx."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import peers  # noqa: E402

BACKENDS = ["threads", "select", "poll", "epoll", "io_uring"]


class WrkAgainstBenchServe(unittest.TestCase):
    def test_every_backend_serves_wrk_without_errors(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend), peers.bench_serve(backend) as port:
                wrk = peers.run_wrk(port, connections=50, duration=1)
                self.assertEqual(wrk["socket_errors"], 0, wrk["output"])
                self.assertEqual(wrk["non2xx"], 0, wrk["output"])
                self.assertGreater(wrk["rps"], 0, wrk["output"])


class BenchLoadAgainstNginx(unittest.TestCase):
    def test_bench_load_http_against_nginx_has_no_errors(self):
        with peers.nginx() as port:
            result = peers.run_bench_load(port, connections=50, duration=1, warmup=0.2)
        self.assertEqual(result["errors"], 0)
        self.assertGreater(result["rps"], 0)


if __name__ == "__main__":
    unittest.main()
