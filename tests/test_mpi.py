"""`mpirun -n K bench load`: each rank a share of the load, merged exactly on rank 0.

Every run is bounded (subprocess timeouts); each test starts its own `bench serve` and stops it.
The expectations are computed here from the per-rank entries, not taken from the merged ones.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from muxbench.bench_binary import find_bench  # noqa: E402

BENCH = find_bench()  # None without one: every test that runs it skips (bench_built_with_mpi)
MPIRUN = shutil.which("mpirun")
# Open MPI refuses root without these; the ranks run multithreaded (no binding) on 2 cores.
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
MPIRUN_ARGS = ["--oversubscribe", "--bind-to", "none"]
RUN_TIMEOUT_S = 90


def bench_built_with_mpi():
    if BENCH is None or MPIRUN is None:
        return False
    return "libmpi" in subprocess.run(["ldd", str(BENCH)], capture_output=True, text=True).stdout


def serve(prefix=(), host="127.0.0.1"):
    """`bench serve --backend=epoll` (optionally inside `prefix`, e.g. ip netns exec); (proc, port)."""
    proc = subprocess.Popen([*prefix, str(BENCH), "serve", "--backend=epoll", f"--host={host}"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on \S+:(\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"bench serve did not start: {line!r}")
    return proc, int(m.group(1))


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def process_tree():
    """Every process, as a tree: what a test that timed out reports as still running."""
    return subprocess.run(["ps", "-eo", "pid,ppid,stat,etime,args", "--forest"], capture_output=True,
                          text=True).stdout


def read_until_table_header(proc):
    """What mpirun's rank 0 printed up to its table header (the "req/s" line), printed once
    every rank has left the start barrier and the clock runs; less if mpirun ended first."""
    header = ""
    while "req/s" not in header:
        line = proc.stdout.readline()
        if not line:
            break
        header += line
    return header


def signal_rank_while_measuring(argv, pid_file, signal_name, env=MPI_ENV):
    """Runs mpirun `argv` (one rank's wrapper writes its pid to `pid_file`) and sends that rank
    `signal_name` once the measurement runs: after rank 0's table header (printed once every
    rank has left the start barrier) and half a second of load. A fixed delay from the start
    stopped the rank inside MPI's start-up on a busy machine, and rank 0 then waited in a
    collective forever. Returns (completed process, seconds from the signal to mpirun's end)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        header = read_until_table_header(proc)
        if "req/s" not in header:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"mpirun ended before the measurement started: {header}{out}{err}")
        time.sleep(0.5)
        os.kill(int(Path(pid_file).read_text()), getattr(signal, f"SIG{signal_name}"))
        signalled = time.monotonic()
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            still = process_tree()
            proc.kill()
            proc.communicate()
            raise AssertionError(f"mpirun did not end within {RUN_TIMEOUT_S} s of the signal; still running:\n{still}")
        return subprocess.CompletedProcess(argv, proc.returncode, header + out, err), time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def signalled_rank_script(directory, rank, pid_file):
    """A wrapper that records rank `rank`'s pid (the shell execs bench under the same pid)."""
    return write_script(directory, "signalled_rank.sh",
                        f'#!/bin/sh\nif [ "$OMPI_COMM_WORLD_RANK" = {rank} ]; then echo $$ > {pid_file}; fi\n'
                        f'exec {BENCH} "$@"\n')


def write_script(directory, name, text):
    path = Path(directory) / name
    path.write_text(text)
    path.chmod(0o755)
    return path


@unittest.skipUnless(bench_built_with_mpi(), "bench built without MPI, or no mpirun (scripts/setup installs Open MPI)")
class MpiLoad(unittest.TestCase):
    def setUp(self):
        self.server, self.port = serve()
        self.tmp = tempfile.TemporaryDirectory()
        self.json = Path(self.tmp.name) / "out.json"

    def tearDown(self):
        stop(self.server)
        self.tmp.cleanup()

    def mpirun(self, program, *load_args, ranks=3, mpirun_args=(), env=None):
        start = time.monotonic()
        out = subprocess.run([MPIRUN, "-n", str(ranks), *MPIRUN_ARGS, *mpirun_args, str(program), "load",
                              f"--target=127.0.0.1:{self.port}", *load_args],
                             capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env or MPI_ENV)
        return out, time.monotonic() - start

    def test_three_ranks_merge_exactly_and_report_clocks_and_barrier_skew(self):
        # Epoll load threads on every rank (--loadgen-io reaches them): a send and a receive per
        # request at least, below; counted exactly (--counters=on), so the ranks' totals add up.
        out, _ = self.mpirun(BENCH, "--clients=7", "--duration=1", "--warmup=0.2", "--loadgen-io=epoll",
                             "--counters=on", f"--json={self.json}")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("muxbench "), 1, "only rank 0 prints")
        doc = json.loads(self.json.read_text())
        self.assertEqual(doc["config"]["loadgen_io"], "epoll")
        results = doc["results"]
        shards = results["shards"]
        self.assertEqual(len(shards), 3)
        self.assertEqual([s["clients"] for s in shards], [3, 2, 2])  # 7 over 3: remainders first
        self.assertTrue(all(s["host"] for s in shards))
        self.assertTrue(all(s["requests"] > 0 and s["errors"] == 0 for s in shards), shards)
        self.assertTrue(all(s["cpu_us"] > 0 for s in shards), shards)  # rank 0's too: it is a shard
        # Memory from before each rank made its connections (their threads' stacks at least).
        self.assertTrue(all(s["memory_bytes"] > 0 for s in shards), shards)
        # Each rank counted its own process (rank 0's by bench's own counters); the load side is
        # their sum, per request of them all.
        loadgen = results["kernel_counters"]["loadgen"]
        counted = [s["kernel_counters"] for s in shards]
        if all(c["available"] for c in counted):
            total = sum(c["totals"]["syscalls"] for c in counted)
            self.assertEqual(loadgen["totals"]["syscalls"], total)
            self.assertAlmostEqual(loadgen["syscalls_per_request"], total / results["requests"])
            self.assertGreater(loadgen["syscalls_per_request"], 1.5, "a send and a receive per request at least")
        self.assertEqual(results["requests"], sum(s["requests"] for s in shards))
        self.assertEqual(results["errors"], 0)
        # The merged histogram holds exactly every rank's counters.
        self.assertEqual(sum(n for s in shards for _, _, n in s["latency_histogram_ns"]),
                         sum(s["requests"] for s in shards))
        mpi = results["mpi"]
        self.assertEqual(mpi["ranks"], 3)
        self.assertEqual(len(mpi["clock_offset_us"]), 3)
        self.assertEqual(mpi["clock_offset_us"][0], 0)
        self.assertGreaterEqual(mpi["barrier_exit_skew_us"], 0)
        self.assertEqual(mpi["barrier_exit_skew_us"], max(mpi["barrier_exit_us"]) - min(mpi["barrier_exit_us"]))
        print(f"\nbarrier exit skew over 3 ranks on one host: {mpi['barrier_exit_skew_us']:.1f} µs, "
              f"clock offsets {mpi['clock_offset_us']} µs (± {mpi['clock_offset_uncertainty_us']})")

    def test_other_options_on_one_rank_exit_2_on_every_rank(self):
        wrapper = write_script(self.tmp.name, "odd_rank.sh",
                               f'#!/bin/sh\nif [ "$OMPI_COMM_WORLD_RANK" = 2 ]; then exec {BENCH} "$@" --duration=2; fi\n'
                               f'exec {BENCH} "$@"\n')
        out, _ = self.mpirun(wrapper, "--clients=6", "--duration=1", f"--json={self.json}")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stdout, "")
        errors = [line for line in out.stderr.splitlines() if line.startswith("bench")]
        self.assertEqual(len(errors), 1, out.stderr)
        self.assertIn("rank 2", errors[0])
        self.assertFalse(self.json.exists())

    def test_more_ranks_than_clients_exits_2(self):
        out, _ = self.mpirun(BENCH, "--clients=2", "--duration=1")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stdout, "")
        errors = [line for line in out.stderr.splitlines() if line.startswith("bench")]
        self.assertEqual(len(errors), 1, out.stderr)
        self.assertIn("3 load ranks", errors[0])

    def rank_fails(self, signal_name, mpirun_args=()):
        pid_file = Path(self.tmp.name) / "rank2.pid"
        wrapper = signalled_rank_script(self.tmp.name, 2, pid_file)
        out, after_signal = signal_rank_while_measuring(
            [MPIRUN, "-n", "3", *MPIRUN_ARGS, *mpirun_args, str(wrapper), "load", f"--target=127.0.0.1:{self.port}",
             "--clients=6", "--duration=3", "--warmup=0.2", "--timeout=2", f"--json={self.json}"],
            pid_file, signal_name)
        self.assertNotEqual(out.returncode, 0, out.stderr)
        doc = json.loads(self.json.read_text())
        self.assertFalse(doc["complete"])
        self.assertIn("rank 2", doc["incomplete_reason"])
        shards = doc["results"]["shards"]
        self.assertFalse(shards[2]["complete"])
        self.assertIsNone(shards[2]["requests"])
        self.assertTrue(shards[0]["complete"] and shards[1]["complete"])
        self.assertEqual(doc["results"]["requests"], shards[0]["requests"] + shards[1]["requests"])
        # No hang: the rest of the 3 s window, rank 0's 2 s wait for the rank (--timeout), then
        # MPI_Abort; 30 s leaves a busy machine room for mpirun's own teardown.
        self.assertLess(after_signal, 30)

    def test_a_killed_rank_leaves_partial_results_marked_incomplete(self):
        # By default mpirun ends the whole job once a rank dies: this keeps rank 0 alive.
        self.rank_fails("KILL", mpirun_args=["--mca", "orte_abort_on_non_zero_status", "0"])

    def test_a_hung_rank_leaves_partial_results_marked_incomplete(self):
        self.rank_fails("STOP")


# A bench configured with -DMUXBENCH_MPI=OFF, if the caller built one (the suite does not build it).
BENCH_WITHOUT_MPI = os.environ.get("MUXBENCH_BENCH_WITHOUT_MPI")


@unittest.skipUnless(MPIRUN and BENCH_WITHOUT_MPI, "set MUXBENCH_BENCH_WITHOUT_MPI to a bench built with -DMUXBENCH_MPI=OFF")
class BuiltWithoutMpi(unittest.TestCase):
    def test_started_by_mpirun_it_says_so_once_and_exits_2(self):
        out = subprocess.run([MPIRUN, "-n", "2", *MPIRUN_ARGS, BENCH_WITHOUT_MPI, "load", "--target=127.0.0.1:1",
                              "--clients=2"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=MPI_ENV)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stdout, "")
        errors = [line for line in out.stderr.splitlines() if line.startswith("bench")]
        self.assertEqual(len(errors), 1, out.stderr)
        self.assertIn("built without MPI", errors[0])


# mpirun's launcher for namespaces: "HOST COMMAND..." runs COMMAND inside network namespace
# HOST, under its own host name (a UTS namespace), as ssh would on another machine.
NETNS_AGENT = """#!/bin/sh
host=$1; shift
exec ip netns exec "$host" unshare --uts sh -c "hostname $host; $*"
"""


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


class BridgedNamespaces:
    """Mixin: three network namespaces on a bridge (server_ns, load_ns[0], load_ns[1] at
    subnet.1, .2, .3), created for the class and removed after it."""

    @classmethod
    def setUpClass(cls):
        tag = os.getpid() % 10000
        cls.subnet = f"10.79.{os.getpid() % 250}"
        cls.bridge = f"mxbr{tag}"
        cls.server_ns, cls.load_ns = f"mxs{tag}", [f"mxa{tag}", f"mxb{tag}"]
        cls.namespaces = []
        if shutil.which("ip") is None or shutil.which("unshare") is None:
            raise unittest.SkipTest("no ip or unshare command here")
        probe = ip("netns", "add", cls.server_ns)
        if probe.returncode != 0:
            raise unittest.SkipTest(f"ip netns is not permitted here: {probe.stderr.strip()}")
        cls.namespaces.append(cls.server_ns)
        try:
            steps = [("link", "add", cls.bridge, "type", "bridge"),
                     ("addr", "add", f"{cls.subnet}.254/24", "dev", cls.bridge),
                     ("link", "set", cls.bridge, "up")]
            for i, ns in enumerate([cls.server_ns, *cls.load_ns], start=1):
                if ns != cls.server_ns:
                    steps.append(("netns", "add", ns))
                    cls.namespaces.append(ns)
                veth = f"v{ns}"
                steps += [("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns),
                          ("link", "set", veth, "master", cls.bridge, "up"),
                          ("-n", ns, "addr", "add", f"{cls.subnet}.{i}/24", "dev", "eth0"),
                          ("-n", ns, "link", "set", "eth0", "up"),
                          ("-n", ns, "link", "set", "lo", "up")]
            for step in steps:
                done = ip(*step)
                if done.returncode != 0:
                    raise RuntimeError(f"ip {' '.join(step)}: {done.stderr.strip()}")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for ns in cls.namespaces:  # their veth pairs go with them
            ip("netns", "del", ns)
        ip("link", "del", cls.bridge)

    def mpirun_in_namespaces(self, hosts, *bench_args, tmp):
        """mpirun over the namespace agent, MPI over TCP on the bridge only."""
        agent = write_script(tmp, "netns_agent.sh", NETNS_AGENT)
        # Not shared memory across namespaces (it crashes at MPI_Finalize): TCP only.
        return subprocess.run(
            [MPIRUN, "-n", str(sum(n for _, n in hosts)), *MPIRUN_ARGS, "-H", ",".join(f"{h}:{n}" for h, n in hosts),
             "--mca", "plm_rsh_agent", str(agent), "--mca", "btl", "tcp,self",
             "--mca", "oob_tcp_if_include", f"{self.subnet}.0/24",
             "--mca", "btl_tcp_if_include", f"{self.subnet}.0/24", str(BENCH), *bench_args],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=MPI_ENV)


@unittest.skipUnless(bench_built_with_mpi(), "bench built without MPI, or no mpirun (scripts/setup installs Open MPI)")
class MpiLoadAcrossNamespaces(BridgedNamespaces, unittest.TestCase):
    """The server in one network namespace, the load ranks in two others, on a bridge."""

    def test_ranks_in_two_namespaces_load_a_server_in_a_third(self):
        server, port = serve(prefix=["ip", "netns", "exec", self.server_ns], host=f"{self.subnet}.1")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                out_json = Path(tmp) / "out.json"
                out = self.mpirun_in_namespaces(
                    [(self.load_ns[0], 2), (self.load_ns[1], 1)], "load", f"--target={self.subnet}.1:{port}",
                    "--clients=7", "--duration=1", "--warmup=0.2", f"--json={out_json}", tmp=tmp)
                self.assertEqual(out.returncode, 0, out.stderr)
                doc = json.loads(out_json.read_text())
        finally:
            stop(server)
        results = doc["results"]
        self.assertTrue(doc["complete"])
        shards = results["shards"]
        self.assertEqual([s["host"] for s in shards], [self.load_ns[0], self.load_ns[0], self.load_ns[1]])
        self.assertTrue(all(s["requests"] > 0 and s["errors"] == 0 for s in shards), shards)
        self.assertEqual(results["requests"], sum(s["requests"] for s in shards))
        mpi = results["mpi"]
        self.assertEqual(mpi["hosts"], [s["host"] for s in shards])
        self.assertEqual(mpi["distinct_hosts"], 2)
        print(f"\nbarrier exit skew over 3 ranks in 2 namespaces (TCP): {mpi['barrier_exit_skew_us']:.1f} µs, "
              f"clock offsets {mpi['clock_offset_us']} µs (± {mpi['clock_offset_uncertainty_us']})")


if __name__ == "__main__":
    unittest.main()
