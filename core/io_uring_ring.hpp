#pragma once
// io_uring's kernel objects, shared by the io_uring server backend (backends/io_uring*.cpp) and
// the io_uring load thread (loadgen/uring_load_thread.cpp): the ring in the cheapest
// task-running mode the kernel accepts, the provided-buffer ring, and a throwaway ring to probe
// what the running kernel has. What each side does with them stays on its side.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mux {

inline constexpr std::uint16_t kBufferGroup = 0;  // the group id recv operations name

struct Completion {
  std::uint64_t user_data;
  int res;
  unsigned flags;
  bool more() const { return (flags & IORING_CQE_F_MORE) != 0; }
};

// The user_data of an operation: what it is (`Op`, an enum of the ring's user) and, for a
// connection's, which connection. The generation tells a slot's occupants apart, so a
// completion or a cancel meant for one never touches the next.
template <typename Op>
struct RingTag {
  static constexpr std::uint32_t kGenerationMask = 0xFF'FFFF;
  Op op;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;

  std::uint64_t encode() const {
    return std::uint64_t{static_cast<std::uint8_t>(op)} << 56 |
           std::uint64_t{generation & kGenerationMask} << 32 | slot;
  }
  static RingTag decode(std::uint64_t v) {
    return {static_cast<Op>(v >> 56), static_cast<std::uint32_t>(v),
            static_cast<std::uint32_t>(v >> 32) & kGenerationMask};
  }
};

// One line for the user: what made io_uring_setup fail with `err`, and what to do about it;
// `instead` is the other choice the user has ("another --backend", "--loadgen-io=epoll").
std::string describe_setup_failure(int err, std::string_view instead = "another --backend");

// How a Ring is set up: the io_uring_params.flags to try, in order (the first the kernel
// accepts is used: older kernels reject newer flags with -EINVAL), and its sizes.
struct RingSetup {
  std::vector<unsigned> modes;
  unsigned entries = 4096;
  unsigned cq_entries = 4 * 4096;  // taken with IORING_SETUP_CQSIZE in the mode
  int sq_thread_cpu = -1;          // SQPOLL modes: the CPU of the SQ thread (with SQ_AFF)
  unsigned sq_thread_idle_ms = 0;  // SQPOLL modes
  std::string instead = "another --backend";  // the other choice, in a failure's message
  // The message when the kernel refuses every mode with -EINVAL; empty: describe_setup_failure's.
  std::string refused;
};

// The task-running modes of a ring without SQPOLL, cheapest first: DEFER_TASKRUN +
// SINGLE_ISSUER (6.1) runs completion work only when the ring's one thread waits (that thread
// must set the ring up and be the only one to submit), COOP_TASKRUN (5.19) at least spares the
// interrupts; older kernels reject either with -EINVAL, and the next mode is tried. Without
// `defer_taskrun` the first is left out. Each with IORING_SETUP_CQSIZE but the last, plain one.
std::vector<unsigned> task_run_modes(bool defer_taskrun);

// Throws std::runtime_error with a one-line reason when the ring cannot be set up.
class Ring {
 public:
  explicit Ring(const RingSetup& setup);
  ~Ring() { io_uring_queue_exit(&ring_); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  io_uring* get() { return &ring_; }
  unsigned kernel_features() const { return kernel_features_; }  // io_uring_params.features
  unsigned setup_flags() const { return setup_flags_; }          // the mode the kernel accepted
  // A free submission entry; when the queue is full mid-batch, submits what it holds first.
  io_uring_sqe* next_sqe();
  // Submits everything queued during the last batch in one system call, and waits for at
  // least `completions` (or an interruption), or until `timeout` has passed when one is given.
  void submit_and_wait(__kernel_timespec* timeout = nullptr, unsigned completions = 1);

 private:
  io_uring ring_{};
  unsigned kernel_features_ = 0;
  unsigned setup_flags_ = 0;
};

// The provided buffers one bundle completion (IORING_RECVSEND_BUNDLE) of `bytes` filled: the
// kernel fills the buffers it took in ring order, each to its full size before the next.
inline std::size_t bundle_buffer_count(std::size_t bytes, std::size_t buffer_size) {
  return bytes == 0 ? 0 : (bytes + buffer_size - 1) / buffer_size;
}

// Receive buffers the kernel picks from as data arrives (a provided buffer ring, 5.19+), so an
// idle connection holds none. One anonymous mapping holds the ring, then the buffers, populated
// at creation (a page fault costs ~45 µs on this project's VMs: none during the measurement).
class BufferRing {
 public:
  // Buffers of `buffer_size` bytes, as many as fit in `budget_bytes` (a power of two, 8 to
  // 32768). nullptr when the kernel cannot register one: the caller receives into its own.
  static std::unique_ptr<BufferRing> create(io_uring* uring, std::size_t buffer_size, std::size_t budget_bytes);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::size_t buffer_size() const { return buffer_size_; }
  unsigned count() const { return count_; }
  std::span<const char> bytes(unsigned id, std::size_t n) const { return {buffer(id), n}; }
  void give_back(unsigned id) {
    const unsigned mask = io_uring_buf_ring_mask(count_);
    io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id), mask, 0);
    io_uring_buf_ring_advance(ring_, 1);
    record(id);
  }
  // A bundle completion (IORING_RECVSEND_BUNDLE) of `n` bytes that starts in buffer `first_id`
  // took the buffers that followed it in the ring; calls `take(bytes)` for each, in order, and
  // returns their ids (valid until the next call), which the caller gives back.
  template <typename Take>
  std::span<const unsigned> take_bundle(unsigned first_id, std::size_t n, Take&& take) {
    const std::size_t buffers = bundle_buffer_count(n, buffer_size_);
    // Read every id before any is given back: giving back writes ring positions.
    bundle_ids_.clear();
    for (std::size_t k = 0; k < buffers; ++k)
      bundle_ids_.push_back(id_at_[(position_of_[first_id] + k) & (count_ - 1)]);
    for (const unsigned id : bundle_ids_) {
      const std::size_t chunk = n < buffer_size_ ? n : buffer_size_;
      take(bytes(id, chunk));
      n -= chunk;
    }
    return bundle_ids_;
  }

 private:
  BufferRing(io_uring* uring, std::size_t buffer_size, std::size_t budget_bytes);
  bool register_with_kernel();
  char* buffer(unsigned id) const { return static_cast<char*>(memory_) + ring_bytes_ + std::size_t{id} * buffer_size_; }
  // Where each buffer was put in the ring, and what is at each position: a bundle completion
  // names only its first buffer.
  void record(unsigned id) {
    position_of_[id] = tail_;
    id_at_[tail_ & (count_ - 1)] = id;
    ++tail_;
  }

  io_uring* uring_;
  std::size_t buffer_size_;
  unsigned count_;  // a power of two, as the ring requires
  std::size_t ring_bytes_;
  std::size_t mapping_bytes_;
  void* memory_ = nullptr;
  io_uring_buf_ring* ring_ = nullptr;
  bool registered_ = false;
  unsigned tail_ = 0;  // buffers added so far (ring positions, unmasked)
  std::vector<unsigned> position_of_;
  std::vector<unsigned> id_at_;
  std::vector<unsigned> bundle_ids_;
};

// A small ring with `flags`, to ask the running kernel what it has; `error` is set (an errno)
// when the kernel refuses it.
struct ProbeRing {
  io_uring ring{};
  io_uring_params params{};
  int error = 0;
  explicit ProbeRing(unsigned flags, int sq_cpu = -1, unsigned entries = 2);
  ~ProbeRing() {
    if (error == 0) io_uring_queue_exit(&ring);
  }
  ProbeRing(const ProbeRing&) = delete;
  ProbeRing& operator=(const ProbeRing&) = delete;

  bool opcode_supported(int op);
};

}  // namespace mux
