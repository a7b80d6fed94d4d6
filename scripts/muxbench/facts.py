"""Facts the C++ defines that the Python side must agree with, all in this one module.

Each one names, in its comment, the C++ definition it mirrors: change the two together. The
backends are not here: they are read from the binary (`bench --list-backends --json`, see
muxbench.registry). When bench can list these too (e.g. `bench --list-counters --json`), this
module is the one place to replace with a reading of the binary.
"""

# A side (server or load generator) doing its work this fraction of the measured window is
# saturated. Mirrors kSaturatedFraction, harness/results/verdict.hpp:14.
SATURATED_FRACTION = 0.9

# results.bottleneck, which side limited a run: every value of bottleneck_verdict
# (harness/results/verdict.cpp:19-27), in the words the report uses.
BOTTLENECK_WORDS = {"server": "server", "load_generator": "load generator", "both": "both sides",
                    "neither": "neither (latency-bound)", "unknown": "unknown (CPU not measured)"}

# How the run's warning begins when the verdict is "load_generator"
# (harness/results/report.cpp:235-236); the report words that case itself, from the verdict, and
# leaves this warning out.
LOADGEN_SATURATED_WARNING = "the load generator, not the server"

# An open-loop run fell short of its target rate when it achieved less than (1 - this) of it.
# Mirrors kAchievedRateTolerance, harness/spec/slo.hpp:27 (and the 0.95 of the run's warning,
# harness/results/report.cpp:223).
ACHIEVED_RATE_TOLERANCE = 0.05

# The coverage the confidence interval of a median aims for, and the name of its method in
# summary.json. Mirror kMedianIntervalConfidence and kMedianIntervalMethod,
# core/median_interval.hpp:16-17.
MEDIAN_INTERVAL_CONFIDENCE = 0.95
MEDIAN_INTERVAL_METHOD = "order statistic"

# results.latency_us's percentiles (besides max): key, percentile. Mirrors kPercentiles,
# harness/results/report.cpp:17.
LATENCY_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9), ("p9999", 99.99))

# The metrics the scripts read from a run, by their short name: the path of keys to each in the
# run's results. Mirrors kMetrics, harness/sweep/sweep_outputs.cpp:28-46 (the same paths; the
# names there are summary.json's); the kernel counters per request are
# harness/kernel/kernel_window_json.cpp:22-23, the work classes
# harness/results/work_class_report.cpp:31-32, the capacity harness/sweep/capacity_command.cpp:187.
METRIC_PATHS = {
    "throughput": ("throughput_rps",),
    "p50": ("latency_us", "p50"),
    "p99": ("latency_us", "p99"),
    "p999": ("latency_us", "p999"),
    "server_us_per_req": ("server_cpu_us_per_request",),
    "errors": ("errors",),
    # what each request cost the kernel (null where not counted)
    "server_syscalls_per_req": ("kernel_counters", "server", "syscalls_per_request"),
    "server_cs_per_req": ("kernel_counters", "server", "context_switches_per_request"),
    "loadgen_syscalls_per_req": ("kernel_counters", "loadgen", "syscalls_per_request"),
    "loadgen_cs_per_req": ("kernel_counters", "loadgen", "context_switches_per_request"),
    # drawn server work (--work-us=bimodal:...): p99 of the requests at or below the median work
    # ("short") and above it; results.latency_by_work_class is null otherwise
    "short_p99": ("latency_by_work_class", "short", "p99"),
    "long_p99": ("latency_by_work_class", "long", "p99"),
    # `bench sweep --capacity=SLO`: the highest rate meeting the SLO
    "capacity": ("capacity_rps",),
}

# What must match for two sweeps' numbers to be comparable: the fields of
# environment.machine_fingerprint (harness/system/environment.cpp:110-116) and the cores each side
# was pinned to, from each run's config (harness/spec/server_spec.cpp:217, the server's field
# list, and harness/results/config_json.cpp:47).
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
