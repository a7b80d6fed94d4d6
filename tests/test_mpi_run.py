"""`mpirun -n K bench --backend=B`: the whole experiment under mpirun. Rank 0 serves (its CPU
and kernel counters measured as `bench` measures its own server), ranks 1..K-1 load it.

Every run is bounded (subprocess timeouts). Expectations are computed here from the per-rank
entries, not taken from the merged ones.
"""

import json
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from tests.test_mpi import (BENCH, MPI_ENV, MPIRUN, MPIRUN_ARGS, RUN_TIMEOUT_S, BridgedNamespaces,
                            bench_built_with_mpi, read_until_table_header, serve, signal_rank_while_measuring,
                            signalled_rank_script, stop)


def bench_processes():
    """Pids of running processes whose executable is this build's bench (the server child too)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(proc, "exe").resolve() == BENCH.resolve():
                    found.add(int(proc.name))
            except OSError:
                pass
    return found


def muxbench_cgroups():
    """The process-tree cgroups (harness/process_tree) under this process's cgroup v2 directory,
    which bench makes its own under: none may be left once bench and its watchdog are gone."""
    mount = next((line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if " - cgroup2 " in line), None)
    own = next((line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::")), None)
    if mount is None or own is None:
        return set()
    return {p.name for p in Path(mount + own.rstrip("/")).glob("muxbench-*")}


def shard_split(clients, ranks):
    """Clients over ranks as the issue asks: equal shares, the remainder spread from the first."""
    return [clients // ranks + (1 if i < clients % ranks else 0) for i in range(ranks)]


@unittest.skipUnless(bench_built_with_mpi(), "bench built without MPI, or no mpirun (scripts/setup installs Open MPI)")
class MpiRun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.json = Path(self.tmp.name) / "out.json"
        self.before = bench_processes()
        self.cgroups_before = muxbench_cgroups()

    def tearDown(self):
        self.tmp.cleanup()
        deadline = time.monotonic() + 5
        while (bench_processes() - self.before or muxbench_cgroups() - self.cgroups_before) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(bench_processes() - self.before, set(), "a bench process (server or rank) was left behind")
        # mpirun's daemon ends a rank's whole process group with SIGKILL after a Ctrl-C: the
        # watchdog, in a session of its own, survives it and removes the rank's cgroup.
        self.assertEqual(muxbench_cgroups() - self.cgroups_before, set(), "a process-tree cgroup was left behind")

    def mpirun(self, *bench_args, ranks=3, program=None):
        return subprocess.run([MPIRUN, "-n", str(ranks), *MPIRUN_ARGS, str(program or BENCH), *bench_args],
                              capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=MPI_ENV)

    def one_error_line(self, out):
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stdout, "")
        errors = [line for line in out.stderr.splitlines() if line.startswith("bench")]
        self.assertEqual(len(errors), 1, out.stderr)
        return errors[0]

    def test_rank_0_serves_and_the_other_ranks_load_it(self):
        # Epoll load threads on every rank (--loadgen-io reaches them): a send and a receive per
        # request at least, below; counted exactly (--counters=on), so the ranks' totals add up.
        out = self.mpirun("--backend=epoll", "--clients=7", "--duration=1", "--warmup=0.2", "--loadgen-io=epoll",
                          "--counters=on", f"--json={self.json}")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("muxbench "), 1, "only rank 0 prints")
        doc = json.loads(self.json.read_text())
        self.assertTrue(doc["complete"], doc.get("incomplete_reason"))
        results = doc["results"]
        shards = results["shards"]
        self.assertEqual([s["clients"] for s in shards], shard_split(7, 2), "the load ranks share the clients")
        self.assertTrue(all(s["requests"] > 0 and s["errors"] == 0 and s["cpu_us"] > 0 for s in shards), shards)
        self.assertEqual(results["requests"], sum(s["requests"] for s in shards))
        self.assertEqual(sum(n for s in shards for _, _, n in s["latency_histogram_ns"]), results["requests"])
        # Each rank's memory from before it made its connections (its threads' stacks at least),
        # and the load side's the ranks' sum.
        self.assertTrue(all(s["memory_bytes"] > 0 for s in shards), shards)
        self.assertEqual(results["memory"]["loadgen_process"]["bytes"], sum(s["memory_bytes"] for s in shards))
        self.assertEqual(results["errors"], 0)
        # The server bench started is counted as bench counts its own: the replies it sent
        # cover every request the ranks completed.
        self.assertTrue(results["request_count_check"]["ok"], results["request_count_check"])
        self.assertGreaterEqual(results["request_count_check"]["server_answered"],
                                results["request_count_check"]["client_completed"])
        self.assertGreater(results["server_cpu_us_per_request"], 0)
        # The load's CPU is the ranks' (rank 0 coordinates and is no shard).
        self.assertAlmostEqual(results["loadgen_cpu_us_per_request"] * results["requests"],
                               sum(s["cpu_us"] for s in shards), delta=1)
        server = results["kernel_counters"]["server"]
        if server["available"]:
            self.assertGreater(server["syscalls_per_request"], 1.5, server)  # a recv and a send at least
        # The load side: each rank counted itself; rank 0 adds them up (the sum computed here).
        loadgen = results["kernel_counters"]["loadgen"]
        if server["available"]:
            counted = [s["kernel_counters"] for s in shards]
            self.assertTrue(all(c["available"] for c in counted), counted)
            total = sum(c["totals"]["syscalls"] for c in counted)
            self.assertEqual(loadgen["totals"]["syscalls"], total)
            self.assertAlmostEqual(loadgen["syscalls_per_request"], total / results["requests"])
            self.assertGreater(loadgen["syscalls_per_request"], 1.5, "a send and a receive per request at least")
            self.assertEqual(loadgen["totals"]["context_switches"], sum(c["totals"]["context_switches"] for c in counted))
        mpi = results["mpi"]
        self.assertEqual((mpi["ranks"], mpi["load_ranks"], mpi["server_rank"]), (3, 2, 0))
        self.assertEqual(mpi["barrier_exit_skew_us"], max(mpi["barrier_exit_us"]) - min(mpi["barrier_exit_us"]))
        print(f"\nrank 0 serving 2 load ranks: {results['throughput_rps']:.0f} req/s, "
              f"barrier exit skew {mpi['barrier_exit_skew_us']:.1f} µs")

    def test_every_backend_runs_in_turn(self):
        out = self.mpirun("--backend=all", "--clients=4", "--duration=0.3", "--warmup=0.1",
                          f"--json={self.tmp.name}/{{backend}}.json", ranks=2)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("muxbench "), 1, "one header for the whole run")
        runs = {p.stem: json.loads(p.read_text()) for p in Path(self.tmp.name).glob("*.json")}
        self.assertTrue({"threads", "select", "poll", "epoll"} <= set(runs), sorted(runs))
        for backend, doc in runs.items():
            self.assertEqual(doc["config"]["backend"], backend)
            self.assertTrue(doc["complete"], (backend, doc.get("incomplete_reason")))
            self.assertGreater(doc["results"]["requests"], 0, backend)
            self.assertEqual(doc["results"]["errors"], 0, backend)
            self.assertEqual(len(doc["results"]["shards"]), 1, backend)

    def test_more_load_ranks_than_clients_exits_2(self):
        self.assertIn("2 load ranks", self.one_error_line(self.mpirun("--backend=epoll", "--clients=1")))

    def test_unix_sockets_are_refused_under_mpirun(self):
        self.assertIn("--transport=unix", self.one_error_line(self.mpirun("--backend=epoll", "--transport=unix")))

    def test_a_port_in_use_exits_2_and_the_load_ranks_end(self):
        server, port = serve()
        try:
            error = self.one_error_line(self.mpirun("--backend=epoll", f"--port={port}", "--clients=4",
                                                    f"--json={self.json}"))
        finally:
            stop(server)
        self.assertIn(str(port), error)
        self.assertFalse(self.json.exists())

    def test_a_hung_load_rank_leaves_partial_results_and_no_hang(self):
        # Rank 2 is stopped while it measures (see signal_rank_while_measuring).
        pid_file = Path(self.tmp.name) / "rank2.pid"
        wrapper = signalled_rank_script(self.tmp.name, 2, pid_file)
        out, after_signal = signal_rank_while_measuring(
            [MPIRUN, "-n", "3", *MPIRUN_ARGS, str(wrapper), "--backend=epoll", "--clients=6", "--duration=3",
             "--warmup=0.2", "--timeout=2", f"--json={self.json}"], pid_file, "STOP")
        self.assertLess(after_signal, 30, "the rest of the 3 s run, the 2 s timeout, then MPI_Abort")
        self.assertNotEqual(out.returncode, 0, out.stderr)
        doc = json.loads(self.json.read_text())
        self.assertFalse(doc["complete"])
        self.assertIn("rank 2", doc["incomplete_reason"])
        shards = doc["results"]["shards"]  # ranks 1 and 2
        self.assertTrue(shards[0]["complete"])
        self.assertFalse(shards[1]["complete"])
        self.assertIsNone(shards[1]["requests"])
        self.assertEqual(doc["results"]["requests"], shards[0]["requests"])
        self.assertGreater(doc["results"]["server_cpu_us_per_request"], 0)

    def test_ctrl_c_to_mpirun_leaves_partial_results_marked_incomplete(self):
        proc = subprocess.Popen([MPIRUN, "-n", "3", *MPIRUN_ARGS, str(BENCH), "--backend=epoll", "--clients=6",
                                 "--duration=20", "--warmup=0.2", f"--json={self.json}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=MPI_ENV)
        self.assertIn("req/s", read_until_table_header(proc))
        time.sleep(1)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail(f"mpirun did not end within 30 s of Ctrl-C: {err}")
        self.assertLess(time.monotonic() - start, 20, "stopped well before the 20 s window would have ended")
        self.assertNotEqual(proc.returncode, 0)
        doc = json.loads(self.json.read_text())
        self.assertFalse(doc["complete"])
        self.assertIn("interrupted", doc["incomplete_reason"])
        results = doc["results"]
        self.assertGreater(results["requests"], 0)
        self.assertLess(results["measured_seconds"], 20)
        self.assertEqual(results["requests"], sum(s["requests"] or 0 for s in results["shards"]))
        self.assertIn("INCOMPLETE", out)


@unittest.skipUnless(bench_built_with_mpi(), "bench built without MPI, or no mpirun (scripts/setup installs Open MPI)")
class MpiRunAcrossNamespaces(BridgedNamespaces, unittest.TestCase):
    """Rank 0 serves in one network namespace; load ranks in two others reach it over a bridge."""

    def test_rank_0_serves_ranks_in_two_other_namespaces(self):
        with tempfile.TemporaryDirectory() as tmp:
            out_json = Path(tmp) / "out.json"
            # 0.0.0.0: the load ranks find the server's bridge address among rank 0's addresses
            # (its loopback is not theirs).
            out = self.mpirun_in_namespaces(
                [(self.server_ns, 1), (self.load_ns[0], 2), (self.load_ns[1], 1)], "--backend=epoll",
                "--host=0.0.0.0", "--clients=6", "--duration=1", "--warmup=0.2", f"--json={out_json}", tmp=tmp)
            self.assertEqual(out.returncode, 0, out.stderr)
            doc = json.loads(out_json.read_text())
        self.assertTrue(doc["complete"], doc.get("incomplete_reason"))
        results = doc["results"]
        shards = results["shards"]
        self.assertEqual([s["host"] for s in shards], [self.load_ns[0], self.load_ns[0], self.load_ns[1]])
        self.assertEqual([s["clients"] for s in shards], shard_split(6, 3))
        self.assertTrue(all(s["requests"] > 0 and s["errors"] == 0 for s in shards), shards)
        self.assertEqual(results["requests"], sum(s["requests"] for s in shards))
        self.assertGreater(results["server_cpu_us_per_request"], 0)
        self.assertTrue(results["request_count_check"]["ok"], results["request_count_check"])
        mpi = results["mpi"]
        self.assertEqual(mpi["hosts"][0], self.server_ns)
        self.assertEqual(mpi["distinct_hosts"], 3)
        self.assertIsNone(results["memory"]["kernel_tcp_both_sides"])
        self.assertIn("other hosts", results["memory"]["kernel_tcp_unknown_reason"])
        print(f"\nrank 0 serving in one namespace, 3 load ranks in two others: {results['throughput_rps']:.0f} req/s, "
              f"barrier exit skew {mpi['barrier_exit_skew_us']:.1f} µs")


if __name__ == "__main__":
    unittest.main()
