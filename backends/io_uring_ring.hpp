#pragma once
// The io_uring backend's kernel objects, apart from its loop (backends/io_uring.cpp): the ring
// in the cheapest task-running mode the kernel accepts, the provided-buffer ring, and the
// user_data tags that tell the loop which operation a completion belongs to.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace mux {

inline constexpr std::uint16_t kBufferGroup = 0;  // the group id recv operations name

enum class Op : std::uint8_t { stop, accept, accept_pause, recv_multishot, recv_single, send, cancel, handoff };

// The user_data of every operation: what it is and, for a connection's, which connection. The
// generation tells a slot's occupants apart, so a cancel never hits the next one.
struct Tag {
  static constexpr std::uint32_t kGenerationMask = 0xFF'FFFF;
  Op op;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;

  std::uint64_t encode() const {
    return std::uint64_t{static_cast<std::uint8_t>(op)} << 56 |
           std::uint64_t{generation & kGenerationMask} << 32 | slot;
  }
  static Tag decode(std::uint64_t v) {
    return {static_cast<Op>(v >> 56), static_cast<std::uint32_t>(v),
            static_cast<std::uint32_t>(v >> 32) & kGenerationMask};
  }
};

struct Completion {
  std::uint64_t user_data;
  int res;
  unsigned flags;
  bool more() const { return (flags & IORING_CQE_F_MORE) != 0; }
};

// One line for the user: what made io_uring_setup fail with `err`, and what to do about it.
std::string describe_setup_failure(int err);

// DEFER_TASKRUN + SINGLE_ISSUER (6.1) runs completion work only when this thread waits,
// COOP_TASKRUN (5.19) at least spares the interrupts; older kernels reject either with
// -EINVAL, and the next mode is tried. Without `defer_taskrun` (io_uring+nodefer) the first
// mode is skipped. Throws std::runtime_error with describe_setup_failure() when none works.
class Ring {
 public:
  explicit Ring(bool defer_taskrun);
  ~Ring() { io_uring_queue_exit(&ring_); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  io_uring* get() { return &ring_; }
  // A free submission entry; when the queue is full mid-batch, submits what it holds first.
  io_uring_sqe* next_sqe();
  // Submits everything queued during the last batch in one system call, and waits for at
  // least one completion (or an interruption).
  void submit_and_wait();

 private:
  io_uring ring_{};
};

// Receive buffers the kernel picks from as data arrives (a provided buffer ring, 5.19+), so an
// idle connection holds none. One anonymous mapping holds the ring, then the buffers.
class BufferRing {
 public:
  // nullptr when the kernel cannot register one: the caller receives into its own buffers.
  static std::unique_ptr<BufferRing> create(io_uring* uring, std::size_t buffer_size);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::span<const char> bytes(unsigned id, std::size_t n) const { return {buffer(id), n}; }
  void give_back(unsigned id) {
    io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(ring_, 1);
  }

 private:
  BufferRing(io_uring* uring, std::size_t buffer_size);
  bool register_with_kernel();
  char* buffer(unsigned id) const { return static_cast<char*>(memory_) + ring_bytes_ + std::size_t{id} * buffer_size_; }

  io_uring* uring_;
  std::size_t buffer_size_;
  unsigned count_;  // a power of two, as the ring requires
  std::size_t ring_bytes_;
  std::size_t mapping_bytes_;
  void* memory_ = nullptr;
  io_uring_buf_ring* ring_ = nullptr;
  bool registered_ = false;
};

}  // namespace mux
