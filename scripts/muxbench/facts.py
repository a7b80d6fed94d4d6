"""Facts the C++ defines that the Python side must agree with, all in this one module.

The kernel counters (each one's per-request field) and the figures bench judges results by are
read from the binary, `bench --list-counters --json`, as muxbench.registry reads the backends
from `bench --list-backends --json`. Where no bench binary is found, WITHOUT_BENCH stands in
for the figures (tests/test_scripts.py checks it against the binary) and a counter's field is
named as results/README.md names them. Each other fact names, in its comment, the C++
definition it mirrors: change the two together.
"""

import functools

from muxbench.bench_binary import bench_json

# `bench --list-counters --json`'s "facts" as of this writing, for where no bench binary is found.
WITHOUT_BENCH = {
    "saturated_fraction": 0.9,
    "achieved_rate_tolerance": 0.05,
    "median_interval_confidence": 0.95,
    "median_interval_method": "order statistic",
    "latency_percentiles": {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9, "p9999": 99.99},
}


@functools.lru_cache(maxsize=None)
def listing():
    """{"counters": [...], "facts": {...}} from `bench --list-counters --json`; None without a bench binary."""
    return bench_json("--list-counters", "--json")


def bench_fact(name):
    """One of bench's facts ("saturated_fraction", ...); WITHOUT_BENCH's without a bench binary."""
    listed = listing()
    return (listed["facts"] if listed is not None else WITHOUT_BENCH)[name]


def per_request_field(counter):
    """The field of kernel counter `counter` in results.kernel_counters.SIDE: "context_switches" ->
    "context_switches_per_request" (without a bench binary, by that naming)."""
    listed = listing()
    if listed is None:
        return f"{counter}_per_request"
    return next(c["per_request_field"] for c in listed["counters"] if c["name"] == counter)


# A side (server or load generator) doing its work this fraction of the measured window is
# saturated (bench's kSaturatedFraction).
SATURATED_FRACTION = bench_fact("saturated_fraction")

# results.bottleneck, which side limited a run: every value of bottleneck_verdict
# (harness/results/verdict.cpp:19-27), in the words the report uses.
BOTTLENECK_WORDS = {"server": "server", "load_generator": "load generator", "both": "both sides",
                    "neither": "neither (latency-bound)", "unknown": "unknown (CPU not measured)"}

# How the run's warning begins when the verdict is "load_generator" (warnings(),
# harness/results/run_record.cpp); the report words that case itself, from the verdict, and
# leaves this warning out.
LOADGEN_SATURATED_WARNING = "the load generator, not the server"

# An open-loop run fell short of its target rate when it achieved less than (1 - this) of it
# (bench's kAchievedRateTolerance: `bench capacity`'s probes and the run's warning).
ACHIEVED_RATE_TOLERANCE = bench_fact("achieved_rate_tolerance")

# The coverage the confidence interval of a median aims for, and the name of its method in
# summary.json (bench's kMedianIntervalConfidence and kMedianIntervalMethod).
MEDIAN_INTERVAL_CONFIDENCE = bench_fact("median_interval_confidence")
MEDIAN_INTERVAL_METHOD = bench_fact("median_interval_method")

# results.latency_us's percentiles (besides max): key, percentile.
LATENCY_PERCENTILES = tuple(bench_fact("latency_percentiles").items())

# The metrics the scripts read from a run, by their short name: the path of keys to each in the
# run's results. Mirrors the metrics of harness/sweep/sweep_outputs.cpp (the same paths; the
# names there are summary.json's); the kernel counters' fields are bench's (per_request_field),
# the work classes harness/results/work_class_report.cpp:31-32, the capacity
# harness/sweep/capacity_command.cpp.
METRIC_PATHS = {
    "throughput": ("throughput_rps",),
    "p50": ("latency_us", "p50"),
    "p99": ("latency_us", "p99"),
    "p999": ("latency_us", "p999"),
    "server_us_per_req": ("server_cpu_us_per_request",),
    "errors": ("errors",),
    # what each request cost the kernel (null where not counted)
    "server_syscalls_per_req": ("kernel_counters", "server", per_request_field("syscalls")),
    "server_cs_per_req": ("kernel_counters", "server", per_request_field("context_switches")),
    "loadgen_syscalls_per_req": ("kernel_counters", "loadgen", per_request_field("syscalls")),
    "loadgen_cs_per_req": ("kernel_counters", "loadgen", per_request_field("context_switches")),
    # drawn server work (--work-us=bimodal:...): p99 of the requests at or below the median work
    # ("short") and above it; results.latency_by_work_class is null otherwise
    "short_p99": ("latency_by_work_class", "short", "p99"),
    "long_p99": ("latency_by_work_class", "long", "p99"),
    # `bench sweep --capacity=SLO`: the highest rate meeting the SLO
    "capacity": ("capacity_rps",),
}

# What must match for two sweeps' numbers to be comparable: the fields of
# environment.machine_fingerprint (harness/system/environment.cpp:110-116) and the cores each side
# was pinned to, from each run's config (the server's field list, harness/spec/server_spec.cpp, and
# config_json, harness/results/config_json.cpp).
FINGERPRINT_FIELDS = ("cpu_model", "online_cores", "kernel", "virtualization", "compiler", "build_type")
PINNING_FIELDS = ("server_cpus", "client_cpus")

# The wait-call micro-benchmarks in micro.json: BM_Wait<Mechanism>/<registered fds>. Mirrors
# tests/micro/wait_benchmarks.cpp:453-456.
MICRO_WAIT_PATTERN = r"^BM_Wait(\w+?)/(\d+)"


def rate_order(rate):
    """Rates in the sweep's order: the closed loop (None) first, then percentages, then
    absolute rates, each by value. Mirrors rate_order, harness/sweep/sweep_outputs.cpp:68-73."""
    if rate is None:
        return (0, 0.0)
    if rate.endswith("%"):
        return (1, float(rate[:-1]))
    return (2, float(rate))


def config_id(key):
    """'epoll-c1000-m128' (open loop: '...-q50pct', '...-q20000rps'): a sweep's run id without
    its repetition, for grepping. Mirrors the run ids of harness/sweep/sweep_plan.cpp:300 and rate_id,
    harness/sweep/sweep_plan.cpp:130-134."""
    backend, clients, size = key[:3]
    rate = ""
    if len(key) > 3:
        rate = f"-q{key[3][:-1]}pct" if key[3].endswith("%") else f"-q{key[3]}rps"
    return f"{backend}-c{clients}-m{size}{rate}"
