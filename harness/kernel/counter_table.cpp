#include "harness/kernel/counter_table.hpp"

namespace mux {
namespace {

// results/README.md describes each field; kernel_counters.cpp counts each counter.
constexpr KernelCounterRow kCounters[] = {
    {"syscalls", "eBPF on the raw tracepoint sys_enter, else perf_event tracepoint raw_syscalls:sys_enter",
     "system calls entered", "syscalls_per_request", "sys/req", false},
    {"context_switches", "getrusage (ru_nvcsw + ru_nivcsw); a --server-cmd server: perf_event software event",
     "context switches", "context_switches_per_request", "cs/req", true},
    {"voluntary_context_switches", "getrusage (ru_nvcsw)", "context switches (the thread blocked)",
     "voluntary_context_switches_per_request", nullptr, true},
    {"involuntary_context_switches", "getrusage (ru_nivcsw)", "context switches (the thread was preempted)",
     "involuntary_context_switches_per_request", nullptr, true},
    {"page_faults", "getrusage (ru_minflt + ru_majflt); a --server-cmd server: perf_event software event",
     "page faults, minor and major", "page_faults_per_request", nullptr, true},
    {"major_page_faults", "getrusage (ru_majflt); a --server-cmd server: perf_event software event",
     "major page faults (the page was read from a file or swap: the process waited for I/O)",
     "major_page_faults_per_request", nullptr, true},
    {"cpu_migrations", "eBPF on sched_migrate_task, else perf_event software event",
     "moves of a thread to another CPU", "cpu_migrations_per_request", nullptr, false},
    {"instructions", "perf_event hardware event", "instructions, user and kernel", "instructions_per_request",
     nullptr, false},
    {"cycles", "perf_event hardware event", "CPU cycles, user and kernel", "cycles_per_request", nullptr, false},
};

constexpr KernelCounterSide kSides[] = {
    {"server", "srv", "server"},
    {"loadgen", "gen", "load generator"},
};

}  // namespace

std::span<const KernelCounterRow> kernel_counter_table() { return kCounters; }

const KernelCounterRow* find_kernel_counter(std::string_view name) {
  for (const KernelCounterRow& row : kCounters)
    if (name == row.name) return &row;
  return nullptr;
}

std::span<const KernelCounterSide> kernel_counter_sides() { return kSides; }

}  // namespace mux
