#pragma once
// --counters=sampled: the system calls counted only in short slices spread evenly over the
// measured window, the eBPF program detached in between. While attached to the syscall
// tracepoint it makes every system call of every task on the machine take the slow path
// (~10% of a syscall-bound run's throughput here, harness/kernel/bpf_syscall_counter.hpp); sampling
// pays that only for the slices. Per request = calls in the slices / requests completed in
// the same slices, each side's calls read by bench at the same edges (the server's slot is in
// bench's maps). What costs nothing to count (getrusage, migrations) covers the whole window.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness/kernel/bpf_syscall_counter.hpp"

namespace mux {

struct SyscallSampling {
  // 100 ms every 2 s: the cost of exact counting (7-15% here) falls under 1%. Long slices,
  // few edges: at each edge the load generator's live count lags its system calls by the batch
  // of replies a thread is handling (up to ~1,000 at 1,000 clients), an error that cancels on
  // average but whose spread grows with the number of edges and shrinks with the requests in
  // the slices.
  static constexpr double kDefaultDuty = 0.05;
  static constexpr std::uint64_t kSliceNs = 100'000'000;
  double duty = kDefaultDuty;  // the fraction of the window counted, (0, 1]
};

// --counters: "on" (exact), "off", "sampled" or "sampled:P%" with 0 < P <= 100.
struct CountersMode {
  bool enabled = true;
  std::optional<SyscallSampling> sampling;  // empty: exact, over the whole window
};
// Null with `*why` (naming the accepted forms) for anything else.
std::optional<CountersMode> parse_counters_mode(const std::string& text, std::string* why);
std::string counters_mode_name(const CountersMode& mode);

// The slices of a window [begin_ns, end_ns): one per 1/duty slice lengths (at least one), each
// in the middle of its share of the window; a window shorter than a slice is one whole slice.
std::vector<std::pair<std::uint64_t, std::uint64_t>> plan_slices(const SyscallSampling& sampling,
                                                                 std::uint64_t begin_ns, std::uint64_t end_ns);

// One side's system calls in the slices, and the requests completed in the same slices.
struct SyscallSample {
  BpfSyscallCounter::Counts counts{};
  std::uint64_t requests = 0;
  std::size_t slices = 0;
  std::uint64_t covered_ns = 0, window_ns = 0;
  double duty = SyscallSampling::kDefaultDuty;
};

}  // namespace mux
