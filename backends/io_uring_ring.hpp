#pragma once
// The io_uring backend's use of the shared kernel objects (core/io_uring_ring.hpp): the ring
// in the modes each variant asks for, its fixed file table, and the user_data tags that tell
// the loop which operation a completion belongs to.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/io_uring.hpp"
#include "core/io_uring_ring.hpp"

namespace mux {

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

// The user_data of every operation: what it is and, for a connection's, which connection.
using Tag = RingTag<Op>;

// The setup flags of each mode the backend's ring tries, in order (the first the kernel
// accepts is used): task_run_modes(), without DEFER_TASKRUN for io_uring+nodefer; with
// `sqpoll`, SQPOLL ones (SQPOLL excludes DEFER_TASKRUN).
std::vector<unsigned> ring_setup_modes(const IoUringFeatures& features);
// The whole setup of the backend's ring: those modes, its sizes, and the SQ thread's CPU.
RingSetup ring_setup(const IoUringFeatures& features);
// +fixed: registers the ring's fd and a sparse fixed file table; throws std::runtime_error
// with a one-line reason.
void register_fixed_files(Ring& ring);

// Provided buffers of the server's receives, one per completion, of ctx.read_size bytes each:
// see backends/io_uring_ring.cpp for the budget.
std::unique_ptr<BufferRing> make_receive_buffers(io_uring* ring, std::size_t read_size);

}  // namespace mux
