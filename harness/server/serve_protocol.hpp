#pragma once
// The pipes between `bench` and its `bench serve` child, written down once for both sides.
// Child -> bench on kReadyFd: "ready ADDR", then replies "REQUEST SEQ VALUE", at the end
// "stats {json}", or "error MESSAGE" when it cannot start. Bench -> child on kControlFd:
// "REQUEST SEQ" lines, REQUEST one of the kRequest* names below.
namespace mux::serve_protocol {

inline constexpr int kReadyFd = 3;
inline constexpr int kControlFd = 4;
// bench's eBPF syscall counter's maps (the tgid -> slot map, the per-CPU counts), passed to the
// child so one program counts both sides (see harness/kernel/bpf_syscall_counter.hpp).
inline constexpr int kSyscallProcessesFd = 5;
inline constexpr int kSyscallCountsFd = 6;

inline constexpr const char* kRequestCpu = "cpu";            // user+sys µs of every server process
inline constexpr const char* kRequestAccepted = "accepted";  // connections accepted so far, every loop
inline constexpr const char* kRequestKernel = "kernel";      // KernelSnapshot as one line of JSON

// The final stats: the server's counters (ServerCounters, summed over every loop) and, under
// this key, one entry per loop (results.server_loops).
inline constexpr const char* kLoopsKey = "loops";

}  // namespace mux::serve_protocol
