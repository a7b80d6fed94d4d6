"""Independent peers to check muxbench against: nginx (a trusted server) and wrk (a trusted
load generator). Every process started here is pinned, runs on loopback only, and is stopped
by the context managers, whatever happens."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from muxbench.bench_binary import CHECKOUT, require_bench

# The servers as `bench --server-cmd` takes them: one command line each, {port} and {host}
# filled in by whoever starts it (bench itself, or server_command() below for wrk).
NGINX_COMMAND = f"{CHECKOUT / 'scripts' / 'nginx-server'} {{port}} {{host}}"


def bench_serve_command(backend, protocol="http", work_us=0):
    return (f"{require_bench()} serve --backend={backend} --protocol={protocol} --work-us={work_us} "
            "--host={host} --port={port}")


class RunningServer:
    """A server started here: its port, and the CPU time its process tree has used, so a
    cross-check can say what each request cost the server and not only what the client saw."""

    def __init__(self, port, pid):
        self.port = port
        self.pid = pid

    def cpu_seconds(self):
        """User + system CPU seconds of the server process and its children (nginx's worker)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.pid] + _children(self.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick


def _children(pid):
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return kids + [g for k in kids for g in _children(k)]


CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
QUOTA_PERIOD_US = 10_000  # short periods: a capped server stalls for milliseconds, not tenths of a second


def _cpu_cgroup_root():
    """(root directory, version) of a writable cgroup hierarchy with the cpu controller, or None."""
    v2 = CGROUP_V2 / "cgroup.controllers"
    if v2.exists() and "cpu" in v2.read_text().split():
        root = CGROUP_V2
        version = 2
    elif (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        root = CGROUP_V1_CPU
        version = 1
    else:
        return None
    return (root, version) if os.access(root / "cgroup.procs", os.W_OK) else None


def cpu_limit_unavailable():
    """Why servers cannot be capped here (one line), or None when they can."""
    if _cpu_cgroup_root() is None:
        return ("capping a server's CPU needs a writable cgroup with the cpu controller "
                "(/sys/fs/cgroup/cpu or cgroup v2 with +cpu); run as root on a machine that has one")
    return None


@contextlib.contextmanager
def cpu_limit(server, percent):
    """Caps the server's processes at `percent` of one core with a CFS quota, so that the server,
    not the load generator, sets the pace: req/s then compares servers, whatever the client."""
    found = _cpu_cgroup_root()
    if found is None:
        raise RuntimeError(cpu_limit_unavailable())
    root, version = found
    group = root / f"muxbench-crosscheck-{os.getpid()}"
    group.mkdir()
    try:
        quota = int(QUOTA_PERIOD_US * percent / 100)
        if version == 2:
            (group / "cpu.max").write_text(f"{quota} {QUOTA_PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(QUOTA_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        for pid in [server.pid] + _children(server.pid):
            (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (root / "cgroup.procs").write_text(pid)
        group.rmdir()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening on port {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def stop(proc, group=False):
    """SIGTERM (to its whole process group with `group`), SIGKILL after 5 s."""
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    if proc.poll() is None or group:
        with contextlib.suppress(ProcessLookupError):
            send(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                send(signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def server_command(command, cpus="0"):
    """A server started from a `bench --server-cmd` command line, pinned to `cpus`, in its own
    process group (all of which is stopped afterwards); yields a RunningServer."""
    port = free_port()
    line = command.replace("{port}", str(port)).replace("{host}", "127.0.0.1").replace("{cpus}", cpus)
    proc = subprocess.Popen(["taskset", "-c", cpus, "sh", "-c", line], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_listening(port, proc)
        yield RunningServer(port, proc.pid)
    finally:
        stop(proc, group=True)
        proc.stderr.close()


def nginx(cpus="0"):
    """nginx with 1 worker (scripts/nginx-server), pinned to `cpus`; yields a RunningServer."""
    return server_command(NGINX_COMMAND, cpus)


def bench_serve(backend, protocol="http", cpus="0", work_us=0):
    """`bench serve` pinned to `cpus`, burning `work_us` per request; yields a RunningServer."""
    return server_command(bench_serve_command(backend, protocol, work_us), cpus)


_UNIT_US = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def _duration_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNIT_US[m.group(2)]


def run_wrk(port, connections, duration, cpus="1", threads=1):
    """wrk -t1 against 127.0.0.1:port; returns req/s, requests, p99 (µs), socket errors, non-2xx."""
    out = subprocess.run(["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
                          "--latency", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = _duration_us(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "requests": requests, "p99_us": p99,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "output": out}


def _run_bench(what, args, connections, duration, cpus, threads, warmup, extra=()):
    """One `bench` HTTP run with the same connections and duration as wrk (and `extra` flags);
    its results."""
    with tempfile.TemporaryDirectory(prefix="muxbench-load-") as tmp:
        path = Path(tmp) / "r.json"
        proc = subprocess.run([str(require_bench()), *args, "--protocol=http", f"--clients={connections}",
                               f"--duration={duration}", f"--warmup={warmup}", f"--client-cpus={cpus}",
                               f"--loadgen-threads={threads}", *extra, f"--json={path}"],
                              capture_output=True, text=True, timeout=duration + warmup + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}")
        r = json.loads(path.read_text())["results"]
    return {"rps": r["throughput_rps"], "p99_us": r["latency_us"]["p99"], "errors": r["errors"],
            "cpu": r["loadgen_cpu_utilization"], "srv_us": r["server_cpu_us_per_request"]}


def run_bench_server_cmd(command, connections, duration, server_cpus="0", cpus="1", threads=1, warmup=1, extra=()):
    """`bench --server-cmd=COMMAND`: bench starts the server, pins it to `server_cpus` and
    measures its CPU per request itself (srv_us)."""
    return _run_bench("bench --server-cmd", [f"--server-cmd={command}", f"--server-cpus={server_cpus}"],
                      connections, duration, cpus, threads, warmup, extra)


def run_bench_load(port, connections, duration, cpus="1", threads=1, warmup=1, extra=()):
    """`bench load` against a running server (srv_us is None: bench does not see its CPU)."""
    return _run_bench("bench load", ["load", f"--target=127.0.0.1:{port}"], connections, duration, cpus, threads,
                      warmup, extra)
