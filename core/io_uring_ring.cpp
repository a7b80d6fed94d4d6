#include "core/io_uring_ring.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace mux {
namespace {

// The kernel takes a power-of-two number of buffers below 65536 (ids are 16 bits).
constexpr unsigned kMaxBufferCount = 32768;
constexpr unsigned kMinBufferCount = 8;
constexpr std::size_t kPage = 4096;

std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  in >> value;
  return value;
}

}  // namespace

std::string describe_setup_failure(int err, std::string_view instead) {
  const std::string disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
  std::string problem = fmt::format("io_uring_setup: {}", std::strerror(err));
  if (!disabled.empty()) problem += fmt::format("; /proc/sys/kernel/io_uring_disabled = {}", disabled);
  std::string fix = fmt::format("choose {}", instead);
  if (!disabled.empty() && disabled != "0")
    fix = fmt::format("enable it with `sysctl kernel.io_uring_disabled=0` or choose {}", instead);
  else if (err == EPERM)
    fix = fmt::format("a security policy (e.g. a container's seccomp profile) blocks it; allow io_uring_setup or "
                      "choose {}",
                      instead);
  else if (err == ENOSYS)
    fix = fmt::format("this kernel has no io_uring, or a seccomp filter hides it; choose {}", instead);
  else if (err == ENOMEM)
    fix = fmt::format("raise the locked-memory limit (ulimit -l) or choose {}", instead);
  return fmt::format("io_uring is unavailable here ({}); {}", problem, fix);
}

std::vector<unsigned> task_run_modes(bool defer_taskrun) {
  std::vector<unsigned> modes;
  if (defer_taskrun) modes.push_back(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE);
  modes.push_back(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE);
  modes.push_back(0);
  return modes;
}

Ring::Ring(const RingSetup& setup) {
  int r = -EINVAL;
  io_uring_params params{};
  for (const unsigned flags : setup.modes) {
    params = {};
    params.flags = flags;
    params.cq_entries = setup.cq_entries;
    if (flags & IORING_SETUP_SQPOLL) {
      params.sq_thread_cpu = static_cast<unsigned>(setup.sq_thread_cpu < 0 ? 0 : setup.sq_thread_cpu);
      params.sq_thread_idle = setup.sq_thread_idle_ms;
    }
    setup_flags_ = flags;
    if ((r = io_uring_queue_init_params(setup.entries, &ring_, &params)) != -EINVAL) break;
  }
  if (r < 0) {
    if (r == -EINVAL && !setup.refused.empty()) throw std::runtime_error(setup.refused);
    throw std::runtime_error(describe_setup_failure(-r, setup.instead));
  }
  kernel_features_ = params.features;
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
    if (r >= 0 && (setup_flags_ & IORING_SETUP_SQPOLL)) r = io_uring_sqring_wait(&ring_);
    if (r < 0 && r != -EINTR) throw std::runtime_error(fmt::format("io_uring_submit: {}", std::strerror(-r)));
  }
}

void Ring::submit_and_wait(__kernel_timespec* timeout, unsigned completions) {
  io_uring_cqe* cqe = nullptr;
  // With a timeout (IORING_FEAT_EXT_ARG, 5.11) submitting and waiting is still one system call.
  const int r = timeout != nullptr ? io_uring_submit_and_wait_timeout(&ring_, &cqe, completions, timeout, nullptr)
                                   : io_uring_submit_and_wait(&ring_, completions);
  // Interrupted or timed out: look at what completed, then wait again.
  if (r >= 0 || r == -EINTR || r == -ETIME) return;
  if (r != -EBUSY && r != -EAGAIN) throw std::runtime_error(fmt::format("io_uring_submit_and_wait: {}", std::strerror(-r)));
  // The kernel wants completions reaped (or memory freed) before it takes more: wait for one
  // without submitting, so the loop does not spin.
  if (io_uring_cq_ready(&ring_) == 0) io_uring_wait_cqe(&ring_, &cqe);
}

std::unique_ptr<BufferRing> BufferRing::create(io_uring* uring, std::size_t buffer_size, std::size_t budget_bytes) {
  std::unique_ptr<BufferRing> buffers(new BufferRing(uring, buffer_size, budget_bytes));
  return buffers->register_with_kernel() ? std::move(buffers) : nullptr;
}

BufferRing::~BufferRing() {
  if (registered_) io_uring_unregister_buf_ring(uring_, kBufferGroup);
  ::munmap(memory_, mapping_bytes_);
}

BufferRing::BufferRing(io_uring* uring, std::size_t buffer_size, std::size_t budget_bytes)
    : uring_(uring),
      buffer_size_(buffer_size),
      count_(std::clamp(static_cast<unsigned>(std::bit_floor(std::max<std::size_t>(1, budget_bytes / buffer_size))),
                        kMinBufferCount, kMaxBufferCount)),
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

ProbeRing::ProbeRing(unsigned flags, int sq_cpu, unsigned entries) {
  params.flags = flags;
  if (sq_cpu >= 0) params.sq_thread_cpu = static_cast<unsigned>(sq_cpu);
  const int r = io_uring_queue_init_params(entries, &ring, &params);
  if (r < 0) error = -r;
}

bool ProbeRing::opcode_supported(int op) {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) return false;
  const bool supported = io_uring_opcode_supported(probe, op) != 0;
  io_uring_free_probe(probe);
  return supported;
}

}  // namespace mux
