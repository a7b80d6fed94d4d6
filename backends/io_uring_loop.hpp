#pragma once
// io_uring(7), completion-based: instead of asking which sockets are ready and then reading
// them, the loop keeps operations queued on every socket (a multishot recv into buffers the
// kernel picks, at most one send) and reacts to what completed. One thread, one ring.
// backends/io_uring.cpp: accept, receive and the connection's life; backends/io_uring_send.cpp:
// the send path (zero-copy included); backends/io_uring_ring.cpp: the ring as the backend sets
// it up (core/io_uring_ring.hpp: the kernel objects, shared with the io_uring load thread).
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.hpp"
#include "backends/io_uring.hpp"
#include "backends/io_uring_ring.hpp"
#include "backends/connection_core.hpp"

namespace mux {

// What a connection's output buffers keep when they empty. A multishot recv delivers several
// read_size completions per connection in one batch while that connection's send is in flight,
// so the output grows past ByteBuffer's default (64 KiB) on every large request; freeing it and
// growing it again cost ~45 µs per 4 KiB page fault on this project's VMs (the 100 x 256 KiB
// collapse: ~45 faults and ~3 ms of server CPU per request).
inline constexpr std::size_t kOutputKeepCapacity = 1024 * 1024;

// The core (codec, `out`, draining, closed) is shared with every model; the rest is io_uring's.
// Once closed (counted and shut down) it is freed when no operation refers to it any more.
struct UringConnection : ConnectionCore {
  explicit UringConnection(const ServeContext& ctx) : ConnectionCore(ctx, kOutputKeepCapacity) {}
  int fd = -1;  // a descriptor, or with +fixed a slot of the fixed file table
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  ByteBuffer sending{kOutputKeepCapacity};  // frozen while its send is in flight: the kernel reads from it
  std::unique_ptr<char[]> recv_buffer;      // single-shot receives only
  std::uint64_t recv_op = 0;                // user_data of the armed recv and send, to cancel them
  std::uint64_t send_op = 0;
  std::size_t zc_sent = 0;      // +zc: bytes the last zero-copy send took, consumed at its notification
  bool recv_armed = false;
  bool recv_cancelled = false;  // a cancel is already on its way to the armed recv
  // Provided buffers its multishot recv filled after the cancel was queued, held until the
  // cancel lands: given back at once, the kernel refilled them from this socket for as long as
  // the cancel took (an SQPOLL thread reaches it late), and what a client that never reads its
  // replies could make us hold grew past the buffer ring.
  std::vector<unsigned> held_buffers;
  bool send_in_flight = false;  // one at most: two sends on a socket can reorder its data
  bool notif_pending = false;   // +zc: the kernel may still read `sending` until the notification
  bool shutdown_in_flight = false;  // +fixed: its table slot stays ours until the shutdown completes

  bool send_busy() const { return send_in_flight || notif_pending; }
};

class IoUringLoop {
 public:
  IoUringLoop(const ServeContext& ctx, IoUringFeatures features);
  // Also on the way out of an exception: the kernel must be done with our memory before the
  // members (buffers, connections) are freed.
  ~IoUringLoop();
  void run();

 private:
  void process_completions();
  void dispatch(const Completion& cq);
  std::uint64_t queue(io_uring_sqe* sqe, Tag tag);
  void cancel(std::uint64_t user_data);
  void watch_stop_fd();
  void arm_accept();
  void watch_handoffs();  // --accept=handoff
  void take_handoffs();
  void on_accept(const Completion& cq);
  void on_accept_error(int err);
  void add_connection(int fd);
  std::uint32_t take_slot();
  UringConnection* find(Tag tag);
  // Marks an SQE on a connection's socket: with +fixed, `fd` is a table slot.
  void on_socket(io_uring_sqe* sqe) const {
    if (features_.fixed_files) sqe->flags |= IOSQE_FIXED_FILE;
  }
  void arm_recv(UringConnection& c);
  void cancel_recv(UringConnection& c);
  void on_recv(Tag tag, const Completion& cq);
  // io_uring_send.cpp
  void flush(UringConnection& c);
  void on_send(Tag tag, const Completion& cq);
  // Lifecycle
  void after_event(UringConnection& c);
  void update(UringConnection& c);
  // Counts it closed (once) and shuts its socket down; `release` frees it later.
  void close(UringConnection& c, Ending how = Ending::finished);
  void release(UringConnection& c);
  void shut_down();

  ServeContext ctx_;
  IoUringFeatures features_;
  Ring ring_;
  std::unique_ptr<BufferRing> buffers_;  // nullptr: single-shot receives
  ServerAcceptor acceptor_;
  std::vector<std::unique_ptr<UringConnection>> conns_;  // indexed by slot
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t next_generation_ = 0;
  std::size_t in_flight_ = 0;  // operations whose last completion has not arrived
  __kernel_timespec accept_pause_;
  bool accept_multishot_;
  bool recv_multishot_ = false;
  bool bundle_ = false;  // +bundle, and the kernel takes it
  bool accept_armed_ = false;
  bool accept_paused_ = false;
  bool handoff_armed_ = false;
  bool stop_armed_ = false;
  bool stop_requested_ = false;
  bool stopping_ = false;
};

}  // namespace mux
