#pragma once
// Judgements on a finished run that need only its numbers: which side limited it, from the CPU
// each side used, and whether the server's request count agrees with the client's.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/thread_cpu.hpp"

namespace mux {

// A side doing its work ≥ 90% of the time is saturated.
inline constexpr double kSaturatedFraction = 0.9;

// The CPU one side (the server or the load generator) used over the measured window.
struct SideCpu {
  std::optional<double> total_us;       // the whole process, all threads (getrusage)
  std::optional<ThreadCpuUse> threads;  // thread by thread (schedstat)
  std::size_t cores = 0;                // cores it was pinned to
};

// Saturated: its busiest thread had work ≥ 90% of the window (ran, or waited on a run queue
// ready to run: a loop starved by other processes is still the limit), or the process used ≥ 90% of the CPU
// its threads could use: min(cores, threads that ran) × window. So a single-threaded server on
// two cores is judged by its one thread. Null when the side's CPU was not measured.
std::optional<bool> saturated(const SideCpu& side, double window_s);

// "server", "load_generator", "both", "neither" (latency-bound), or "unknown" when either
// side's CPU was not measured (`bench load`: the server is not ours).
std::string bottleneck_verdict(const SideCpu& server, const SideCpu& loadgen, double window_s);

// Both sides count over the whole run, warm-up included. A reply the client completed was
// answered by the server, and the server can only answer what the client wrote in full; so
// client_completed <= server_answered <= client_sent, whatever was in flight at the stop.
struct RequestCountCheck {
  std::uint64_t client_completed = 0;
  std::uint64_t client_sent = 0;
  std::uint64_t server_answered = 0;
  bool ok() const { return client_completed <= server_answered && server_answered <= client_sent; }
};

}  // namespace mux
