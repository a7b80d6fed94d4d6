"""Independent peers to check muxbench against: nginx (a trusted server) and wrk (a trusted
load generator). Every process started here is pinned, runs on loopback only, and is stopped
by the context managers, whatever happens."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The bench binary: the Release build, or the one a test names (each build dir tests its own).
BENCH = Path(os.environ.get("MUXBENCH_BENCH", ROOT / "build" / "bench"))

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 20000; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} backlog=4096 reuseport;
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
"""


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


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def nginx(cpus="0"):
    """nginx with 1 worker, its own config in a temp dir, pinned to `cpus`; yields a RunningServer."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="muxbench-nginx-") as tmp:
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        proc = subprocess.Popen(["taskset", "-c", cpus, binary, "-p", tmp, "-c", str(conf)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(port, proc)
            yield RunningServer(port, proc.pid)
        finally:
            stop(proc)  # SIGTERM to the master: it stops its worker


@contextlib.contextmanager
def bench_serve(backend, protocol="http", cpus="0", work_us=0):
    """`bench serve` pinned to `cpus`, burning `work_us` per request; yields a RunningServer."""
    proc = subprocess.Popen([str(BENCH), "serve", f"--backend={backend}", f"--protocol={protocol}",
                             f"--server-cpus={cpus}", f"--work-us={work_us}"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            raise RuntimeError(f"bench serve --backend={backend} did not start: {line.strip()!r}")
        yield RunningServer(int(m.group(1)), proc.pid)
    finally:
        stop(proc)


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


def run_bench_load(port, connections, duration, cpus="1", threads=1, warmup=1):
    """`bench load --protocol=http` with the same connections and duration as wrk."""
    with tempfile.TemporaryDirectory(prefix="muxbench-load-") as tmp:
        path = Path(tmp) / "r.json"
        proc = subprocess.run([str(BENCH), "load", f"--target=127.0.0.1:{port}", "--protocol=http",
                               f"--clients={connections}", f"--duration={duration}", f"--warmup={warmup}",
                               f"--client-cpus={cpus}", f"--loadgen-threads={threads}", f"--json={path}"],
                              capture_output=True, text=True, timeout=duration + warmup + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"bench load failed ({proc.returncode}): {proc.stderr.strip()}")
        r = json.loads(path.read_text())["results"]
    return {"rps": r["throughput_rps"], "p99_us": r["latency_us"]["p99"], "errors": r["errors"],
            "cpu": r["loadgen_cpu_utilization"]}
