#include "backends/io_uring_ring.hpp"

#include <sched.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backends/backend.hpp"
#include "core/cpu_set.hpp"
#include "core/proc_files.hpp"

namespace mux {
namespace {

constexpr unsigned kSubmissionEntries = 4096;
// Multishot operations post many completions per submission: a CQ much larger than the SQ
// keeps a burst from spilling into the kernel's slower overflow list.
constexpr unsigned kCompletionEntries = 4 * kSubmissionEntries;
// Provided buffers, one per receive completion, of ctx.knobs.read_size bytes each. They are shared by
// all connections and handed back as soon as their completion is consumed, so their number
// bounds the completions of one batch, not the connections; running dry only costs a re-armed
// recv (-ENOBUFS). The ring hands them out in turn, so over a run every buffer gets touched:
// its memory is a fixed budget whatever the read size, divided into buffers of that size
// (4096 of 8 KiB, 512 of 64 KiB, 8 of kMaxReadSize): the buffers never take more than that.
// Since every buffer gets touched anyway, the mapping is populated at start-up (MAP_POPULATE):
// faulting its 8,192 pages in during the measurement cost ~0.35 s of server CPU on this
// project's VMs (~45 µs per page fault).
constexpr std::size_t kBufferRingBytes = 32 * 1024 * 1024;
static_assert(kBufferRingBytes / kMaxReadSize >= 8, "the budget holds the fewest buffers at the largest size");
static_assert(kMaxReadSize <= UINT32_MAX, "a provided buffer's length is 32 bits");
// +sqpoll: how long the SQ thread keeps polling an idle queue before it sleeps (and the next
// submission must wake it with a system call). Short: on this project's small machines it
// shares a server CPU, and a server left idle must not keep spinning it (liburing's examples
// use seconds, for a CPU of its own).
constexpr unsigned kSqThreadIdleMs = 2;

// Entries of /proc/self/fd (the listing's own fd included: one too many is harmless).
std::uint64_t open_fd_count() { return numeric_entries("/proc/self/fd").size(); }

}  // namespace

std::vector<unsigned> ring_setup_modes(const IoUringFeatures& features) {
  if (features.sqpoll)  // SINGLE_ISSUER: only this thread submits (the SQ thread issues for it)
    return {IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_CQSIZE,
            IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | IORING_SETUP_CQSIZE};
  return task_run_modes(features.defer_taskrun);
}

RingSetup ring_setup(const IoUringFeatures& features) {
  RingSetup setup;
  setup.modes = ring_setup_modes(features);
  setup.entries = kSubmissionEntries;
  setup.cq_entries = kCompletionEntries;
  if (features.sqpoll) {
    setup.sq_thread_cpu = sqpoll_cpu(allowed_cpus(), ::sched_getcpu());
    setup.sq_thread_idle_ms = kSqThreadIdleMs;
    setup.refused = "io_uring+sqpoll: this kernel refuses IORING_SETUP_SQPOLL with SQ_AFF (needs 5.11 for "
                    "unprivileged SQPOLL); choose --backend=io_uring";
  }
  return setup;
}

void register_fixed_files(Ring& ring) {
  // Registered ring fd: io_uring_enter takes the ring's index, not an fd to look up (5.18).
  int r = io_uring_register_ring_fd(ring.get());
  if (r < 0)
    throw std::runtime_error(fmt::format("io_uring+fixed: io_uring_register_ring_fd: {}; choose --backend=io_uring",
                                         std::strerror(-r)));
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  if ((r = io_uring_register_files_sparse(ring.get(), fixed_file_table_size(nofile.rlim_cur, open_fd_count()))) < 0)
    throw std::runtime_error(fmt::format("io_uring+fixed: io_uring_register_files_sparse: {}; raise the fd limit "
                                         "(ulimit -n) or choose --backend=io_uring",
                                         std::strerror(-r)));
}

std::unique_ptr<BufferRing> make_receive_buffers(io_uring* ring, std::size_t read_size) {
  return BufferRing::create(ring, read_size, kBufferRingBytes);
}

}  // namespace mux
