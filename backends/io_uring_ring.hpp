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
#include <vector>

#include "backends/io_uring.hpp"

namespace mux {

inline constexpr std::uint16_t kBufferGroup = 0;  // the group id recv operations name

enum class Op : std::uint8_t {
  stop,
  accept,
  accept_pause,
  recv_multishot,
  recv_single,
  send,
  cancel,
  shutdown,      // +fixed: shutdown(2) of a direct descriptor
  close_direct,  // +fixed: frees a fixed file table slot
  handoff,       // --accept=handoff: an fd number read from the handoff pipe
};

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
// mode is skipped; with `sqpoll` the modes are SQPOLL ones (SQPOLL excludes DEFER_TASKRUN).
// With `fixed_files` the ring's fd is registered and a sparse fixed file table set up.
// Throws std::runtime_error with a one-line reason when the ring cannot be set up.
class Ring {
 public:
  explicit Ring(const IoUringFeatures& features);
  ~Ring() { io_uring_queue_exit(&ring_); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  io_uring* get() { return &ring_; }
  unsigned kernel_features() const { return kernel_features_; }  // io_uring_params.features
  // A free submission entry; when the queue is full mid-batch, submits what it holds first.
  io_uring_sqe* next_sqe();
  // Submits everything queued during the last batch in one system call, and waits for at
  // least one completion (or an interruption).
  void submit_and_wait();

 private:
  io_uring ring_{};
  unsigned kernel_features_ = 0;
  bool sqpoll_ = false;
};

// The setup flags of each mode Ring tries, in order (the first the kernel accepts is used).
std::vector<unsigned> ring_setup_modes(const IoUringFeatures& features);

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
    const unsigned mask = io_uring_buf_ring_mask(count_);
    io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id), mask, 0);
    io_uring_buf_ring_advance(ring_, 1);
    record(id);
  }
  // +bundle: a completion of `n` bytes that starts in buffer `first_id` took the buffers that
  // followed it in the ring; calls `take(bytes)` for each, in order, and returns their ids (valid
  // until the next call), which the caller gives back.
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
  BufferRing(io_uring* uring, std::size_t buffer_size);
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

}  // namespace mux
