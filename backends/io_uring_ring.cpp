#include "backends/io_uring_ring.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "backends/backend.hpp"
#include "backends/io_uring.hpp"
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
// The kernel takes a power-of-two number of buffers below 65536 (ids are 16 bits).
constexpr unsigned kMaxBufferCount = 32768;
constexpr unsigned kMinBufferCount = 8;
static_assert(kBufferRingBytes / kMaxReadSize >= kMinBufferCount, "the budget holds the fewest buffers at the largest size");
static_assert(kMaxReadSize <= UINT32_MAX, "a provided buffer's length is 32 bits");
constexpr std::size_t kPage = 4096;
// +sqpoll: how long the SQ thread keeps polling an idle queue before it sleeps (and the next
// submission must wake it with a system call). Short: on this project's small machines it
// shares a server CPU, and a server left idle must not keep spinning it (liburing's examples
// use seconds, for a CPU of its own).
constexpr unsigned kSqThreadIdleMs = 2;

std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  in >> value;
  return value;
}

// Entries of /proc/self/fd (the listing's own fd included: one too many is harmless).
std::uint64_t open_fd_count() { return numeric_entries("/proc/self/fd").size(); }

}  // namespace

std::string describe_setup_failure(int err) {
  const std::string disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
  std::string problem = fmt::format("io_uring_setup: {}", std::strerror(err));
  if (!disabled.empty()) problem += fmt::format("; /proc/sys/kernel/io_uring_disabled = {}", disabled);
  std::string_view fix = "choose another --backend";
  if (!disabled.empty() && disabled != "0")
    fix = "enable it with `sysctl kernel.io_uring_disabled=0` or choose another --backend";
  else if (err == EPERM)
    fix = "a security policy (e.g. a container's seccomp profile) blocks it; allow io_uring_setup or choose "
          "another --backend";
  else if (err == ENOSYS)
    fix = "this kernel has no io_uring, or a seccomp filter hides it; choose another --backend";
  else if (err == ENOMEM)
    fix = "raise the locked-memory limit (ulimit -l) or choose another --backend";
  return fmt::format("io_uring is unavailable here ({}); {}", problem, fix);
}

std::vector<unsigned> ring_setup_modes(const IoUringFeatures& features) {
  if (features.sqpoll)  // SINGLE_ISSUER: only this thread submits (the SQ thread issues for it)
    return {IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_CQSIZE,
            IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF | IORING_SETUP_CQSIZE};
  std::vector<unsigned> modes;
  if (features.defer_taskrun)
    modes.push_back(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE);
  modes.push_back(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE);
  modes.push_back(0);
  return modes;
}

Ring::Ring(const IoUringFeatures& features) : sqpoll_(features.sqpoll) {
  int r = -EINVAL;
  io_uring_params params{};
  for (const unsigned flags : ring_setup_modes(features)) {
    params = {};
    params.flags = flags;
    params.cq_entries = kCompletionEntries;
    if (features.sqpoll) {
      const int cpu = sqpoll_cpu(allowed_cpus(), ::sched_getcpu());
      params.sq_thread_cpu = static_cast<unsigned>(cpu < 0 ? 0 : cpu);
      params.sq_thread_idle = kSqThreadIdleMs;
    }
    if ((r = io_uring_queue_init_params(kSubmissionEntries, &ring_, &params)) != -EINVAL) break;
  }
  if (r < 0) {
    if (features.sqpoll && r == -EINVAL)
      throw std::runtime_error("io_uring+sqpoll: this kernel refuses IORING_SETUP_SQPOLL with SQ_AFF (needs 5.11 for "
                               "unprivileged SQPOLL); choose --backend=io_uring");
    throw std::runtime_error(describe_setup_failure(-r));
  }
  kernel_features_ = params.features;
  if (!features.fixed_files) return;
  // Registered ring fd: io_uring_enter takes the ring's index, not an fd to look up (5.18).
  if ((r = io_uring_register_ring_fd(&ring_)) < 0) {
    io_uring_queue_exit(&ring_);
    throw std::runtime_error(fmt::format("io_uring+fixed: io_uring_register_ring_fd: {}; choose --backend=io_uring",
                                         std::strerror(-r)));
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  if ((r = io_uring_register_files_sparse(&ring_, fixed_file_table_size(nofile.rlim_cur, open_fd_count()))) < 0) {
    io_uring_queue_exit(&ring_);
    throw std::runtime_error(fmt::format("io_uring+fixed: io_uring_register_files_sparse: {}; raise the fd limit "
                                         "(ulimit -n) or choose --backend=io_uring",
                                         std::strerror(-r)));
  }
}

io_uring_sqe* Ring::next_sqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    // The queue is full of entries the kernel has not seen: liburing publishes the SQ tail
    // only in io_uring_submit, SQPOLL or not. Submit them (with SQPOLL this also wakes the SQ
    // thread if it sleeps), then, with SQPOLL, wait until that thread has taken some. Waiting
    // without submitting first spun forever: the kernel saw an empty queue, so
    // io_uring_sqring_wait returned at once, and io_uring_get_sqe stayed NULL (the 10,000-
    // connection stall of io_uring+sqpoll: a batch of completions queued over 4096 entries).
    int r = io_uring_submit(&ring_);
    if (r >= 0 && sqpoll_) r = io_uring_sqring_wait(&ring_);
    if (r < 0 && r != -EINTR) throw std::runtime_error(fmt::format("io_uring_submit: {}", std::strerror(-r)));
  }
}

void Ring::submit_and_wait() {
  const int r = io_uring_submit_and_wait(&ring_, 1);
  if (r >= 0 || r == -EINTR) return;  // interrupted: look at what completed, then wait again
  if (r != -EBUSY && r != -EAGAIN) throw std::runtime_error(fmt::format("io_uring_submit_and_wait: {}", std::strerror(-r)));
  // The kernel wants completions reaped (or memory freed) before it takes more: wait for one
  // without submitting, so the loop does not spin.
  io_uring_cqe* cqe = nullptr;
  if (io_uring_cq_ready(&ring_) == 0) io_uring_wait_cqe(&ring_, &cqe);
}

std::unique_ptr<BufferRing> BufferRing::create(io_uring* uring, std::size_t buffer_size) {
  std::unique_ptr<BufferRing> buffers(new BufferRing(uring, buffer_size));
  return buffers->register_with_kernel() ? std::move(buffers) : nullptr;
}

BufferRing::~BufferRing() {
  if (registered_) io_uring_unregister_buf_ring(uring_, kBufferGroup);
  ::munmap(memory_, mapping_bytes_);
}

BufferRing::BufferRing(io_uring* uring, std::size_t buffer_size)
    : uring_(uring),
      buffer_size_(buffer_size),
      count_(std::clamp(static_cast<unsigned>(std::bit_floor(kBufferRingBytes / buffer_size)), kMinBufferCount,
                        kMaxBufferCount)),
      // The buffers start on a page of their own, after the ring's entries.
      ring_bytes_((count_ * sizeof(io_uring_buf) + kPage - 1) / kPage * kPage),
      mapping_bytes_(ring_bytes_ + std::size_t{count_} * buffer_size),
      position_of_(count_),
      id_at_(count_) {
  memory_ = ::mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (memory_ == MAP_FAILED)
    throw std::runtime_error(fmt::format("mmap of {} MiB for io_uring receive buffers: {}", mapping_bytes_ >> 20,
                                         std::strerror(errno)));
  ring_ = static_cast<io_uring_buf_ring*>(memory_);
}

bool BufferRing::register_with_kernel() {
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_);
  reg.ring_entries = count_;
  reg.bgid = kBufferGroup;
  if (io_uring_register_buf_ring(uring_, &reg, 0) != 0) return false;
  registered_ = true;
  io_uring_buf_ring_init(ring_);
  for (unsigned id = 0; id < count_; ++id) {
    io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(count_), static_cast<int>(id));
    record(id);
  }
  io_uring_buf_ring_advance(ring_, static_cast<int>(count_));
  return true;
}

}  // namespace mux
