#pragma once
// The io_uring backend's switches: one per `io_uring+FEATURE` variant of the registry, with the
// probes that say whether this kernel and liburing can run each, and the pure decisions the
// variants make (unit-tested in tests/io_uring_features_test.cpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.hpp"

namespace mux {

struct IoUringFeatures {
  // Single-shot accept and recv into per-connection buffers (no provided-buffer ring): the
  // path kernels older than 5.19/6.0 take, run on purpose on this one.
  bool single_shot = false;
  // DEFER_TASKRUN + SINGLE_ISSUER (6.1): completion work runs only when the loop waits. Off,
  // the ring runs it as the kernel sees fit (COOP_TASKRUN where available).
  bool defer_taskrun = true;
  // +fixed: the ring's fd registered (io_uring_register_ring_fd) and every connection a direct
  // descriptor: multishot accept into the fixed file table, recv/send with IOSQE_FIXED_FILE,
  // close with IORING_OP_CLOSE on the table slot. No fget/fput per operation.
  bool fixed_files = false;
  // +sqpoll: a kernel thread (SQPOLL), pinned to a server CPU (SQ_AFF), polls the submission
  // queue, so submitting needs no system call. It burns that CPU while busy; DEFER_TASKRUN
  // cannot go with it (the kernel refuses the pair), so completion work runs in that thread.
  bool sqpoll = false;
  // +zc: replies of at least ServeContext::knobs.zc_threshold bytes go out with IORING_OP_SEND_ZC;
  // the reply buffer stays untouched until its notification completion.
  bool zero_copy = false;
  // +bundle: multishot recv with IORING_RECVSEND_BUNDLE (6.10): one completion may fill
  // several provided buffers in a row.
  bool bundle = false;
};

std::unique_ptr<Backend> make_io_uring_backend(IoUringFeatures features);

// Probes: empty when this machine can run the variant; otherwise one line: why not, and the fix.
std::string probe_io_uring();
std::string probe_io_uring_fixed();
std::string probe_io_uring_sqpoll();
std::string probe_io_uring_zc();
std::string probe_io_uring_bundle();
std::string probe_io_uring_fixed_bundle();
// The bundle probe's verdict from io_uring_params.features after setup: "" or the reason.
std::string bundle_support(unsigned setup_features);

// --- pure decisions -------------------------------------------------------------------------

// +zc: whether a send of `bytes` goes out zero-copy. Below the threshold the page pinning and
// the extra notification cost more than the copy they save (break-even near 4-16 KiB).
inline bool use_zero_copy(std::size_t bytes, std::size_t threshold) { return bytes >= threshold; }

// +fixed: slots of the fixed file table. Direct descriptors do not count against the fd limit,
// so the table takes what the limit leaves beside the fds already open: ordinary and direct
// descriptors together stay within RLIMIT_NOFILE, as the user set it. A slot costs kernel memory
// whether used or not: capped. A connection beyond the table is refused at accept (-ENFILE,
// handled as an fd shortage: dropped and counted).
inline constexpr unsigned kMaxFixedFiles = 65536;
inline unsigned fixed_file_table_size(std::uint64_t nofile_soft_limit, std::uint64_t fds_open) {
  const std::uint64_t room = nofile_soft_limit > fds_open ? nofile_soft_limit - fds_open : 1;
  return room > kMaxFixedFiles ? kMaxFixedFiles : static_cast<unsigned>(room);
}

// +sqpoll: the CPU for the SQ thread, from the server's allowed CPUs and the loop's own CPU:
// another server CPU when there is one (the thread then polls beside the loop, not in its
// place), else the loop's CPU. -1 when `allowed` is empty.
inline int sqpoll_cpu(const std::vector<int>& allowed, int loop_cpu) {
  for (const int cpu : allowed)
    if (cpu != loop_cpu) return cpu;
  return allowed.empty() ? -1 : allowed.front();
}

}  // namespace mux
