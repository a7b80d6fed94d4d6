// --loadgen-io=io_uring: the load thread's I/O on an io_uring ring, for fewer system calls per
// request than epoll's recv + sendmsg + a share of epoll_pwait2 (everything else the thread
// does is loadgen/load_thread.cpp's, the same for both).
//  - Replies: one multishot recv per connection into a provided buffer ring shared by the
//    thread's connections; each buffer goes back to the ring as soon as its bytes are checked.
//  - Requests: at most one send per connection in flight (two on one socket can reorder its
//    bytes), from iovecs kept with the connection until it completes. The sends a batch of
//    completions issues go to the kernel together, in the one io_uring_enter that also waits
//    for the next batch.
//  - Connects: the usual non-blocking connect(), then a poll for POLLOUT on the ring.
//  - The ring: DEFER_TASKRUN + SINGLE_ISSUER where the kernel has them (completion work runs
//    only when this thread waits), else COOP_TASKRUN; its fd registered (io_uring_enter then
//    looks no fd up). It is set up by the load thread itself, its single issuer.
// A reply is timestamped when its completion is reaped: after the kernel has copied it into a
// buffer and this thread has woken, as the epoll thread stamps it after recv() returns.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "core/clock.hpp"
#include "core/io_uring_ring.hpp"
#include "loadgen/load_connection.hpp"
#include "loadgen/load_thread.hpp"
#include "loadgen/uring_probe.hpp"

namespace mux {
namespace {

constexpr unsigned kSubmissionEntries = 4096;
// A round of replies posts a completion per connection for its reply and one for its next
// request's send: the CQ holds a few rounds, up to the kernel's limit. A full CQ spills into the
// kernel's slower overflow list, and ends multishot recvs (they must be armed again).
constexpr std::size_t kMinCompletionEntries = 4 * kSubmissionEntries;
constexpr std::size_t kMaxCompletionEntries = 65536;  // IORING_MAX_CQ_ENTRIES
// Receive buffers: one per completion, back in the ring once checked, so their number bounds
// the completions of one batch (running dry costs a re-armed recv, -ENOBUFS), not the
// connections: about one per connection, within bounds.
constexpr std::size_t kBufferBytes = 8 * 1024;
constexpr std::size_t kMinBuffers = 64;
constexpr std::size_t kMaxBuffers = 4096;
constexpr std::uint64_t kDrainTimeoutNs = 2'000'000'000;
constexpr std::uint64_t kDrainSliceNs = 100'000'000;

class UringLoadThread final : public LoadThread {
 public:
  UringLoadThread(const LoadConfig& config, std::size_t first, std::size_t count, std::size_t idle,
                  const std::atomic<std::uint64_t>& stop_ns)
      : LoadThread(config, first, count, idle, stop_ns), clients_(count), sockets_(connection_count()) {}

 private:
  enum class Op : std::uint8_t { connect, recv, send, cancel };
  using Tag = RingTag<Op>;
  // A send's msghdr and iovecs: the kernel may read them until the send completes.
  struct Sending {
    msghdr msg{};
    iovec iov[kMaxSendIov];
  };
  // What the ring has under way on a connection's socket.
  struct Socket {
    std::uint32_t generation = 0;  // one more at each new socket: completions of the last are told apart
    bool connect_armed = false;
    bool recv_armed = false;
    bool send_in_flight = false;   // the slot's one send, of this socket or the last one
    std::unique_ptr<Sending> sending;  // from the first send on (an --idle connection never sends)
  };

  void wait(std::uint64_t timeout_ns) override;
  void watch_connect(Connection& c) override;
  void watch_replies(Connection& c) override;
  void send(Connection& c) override;
  void forget(Connection& c) override;
  void finish_io() override;

  Ring& ring();
  Tag tag(Op op, const Connection& c) const {
    const std::size_t i = index_of(c);
    return {op, static_cast<std::uint32_t>(i), sockets_[i].generation};
  }
  io_uring_sqe* queue(Tag tag);
  void cancel(Tag tag);
  void reap();
  void dispatch(const Completion& cq);
  void on_recv(Tag tag, const Completion& cq);
  void on_send(Tag tag, const Completion& cq);

  std::size_t clients_;  // connections that send (the others are --idle)
  std::optional<Ring> ring_;
  std::unique_ptr<BufferRing> buffers_;
  std::vector<Socket> sockets_;
  std::size_t in_flight_ = 0;  // operations whose last completion has not arrived
  // Sends and cancels queued since the last wait: they complete as they are submitted (a send
  // to a socket with room), so the wait is for one completion more than these, or it would
  // return at once with only them and take a second system call to wait for a reply.
  unsigned completing_at_once_ = 0;
  bool draining_ = false;      // finish_io(): completions are only counted
};

// liburing maps a ring with its own system calls, which ThreadSanitizer does not see: a ring one
// load thread has unmapped (finish_io() after a failed connect) can be mapped again at the same
// address by another thread's new ring, and TSan would take the two threads' writes to it for a
// race. Setting a ring up and tearing one down under this lock orders them in its eyes as the
// kernel already does; it is taken once per ring at each end, never per request.
std::mutex& ring_mappings() {
  static std::mutex mutex;
  return mutex;
}

// Set up on first use, which is on the load thread (connect_all()).
Ring& UringLoadThread::ring() {
  if (ring_) return *ring_;
  const std::lock_guard mapping(ring_mappings());
  RingSetup setup;
  setup.modes = task_run_modes(true);
  setup.entries = kSubmissionEntries;
  setup.cq_entries = static_cast<unsigned>(
      std::clamp(std::bit_ceil(4 * connection_count()), kMinCompletionEntries, kMaxCompletionEntries));
  setup.instead = kUringLoadInstead;
  ring_.emplace(setup);
  io_uring_register_ring_fd(ring_->get());  // without it (before 5.18) each enter looks the fd up
  const std::size_t buffers = std::clamp(std::bit_ceil(std::max<std::size_t>(clients_, 1)), kMinBuffers, kMaxBuffers);
  buffers_ = BufferRing::create(ring_->get(), kBufferBytes, buffers * kBufferBytes);
  if (!buffers_) throw std::runtime_error(no_buffer_ring_reason());
  return *ring_;
}

io_uring_sqe* UringLoadThread::queue(Tag tag) {
  io_uring_sqe* sqe = ring().next_sqe();
  io_uring_sqe_set_data64(sqe, tag.encode());
  ++in_flight_;
  return sqe;
}

void UringLoadThread::cancel(Tag tag) {
  const std::uint64_t target = tag.encode();
  io_uring_prep_cancel64(queue({Op::cancel}), target, 0);
  ++completing_at_once_;
}

void UringLoadThread::wait(std::uint64_t timeout_ns) {
  __kernel_timespec timeout{.tv_sec = static_cast<long long>(timeout_ns / 1'000'000'000),
                            .tv_nsec = static_cast<long long>(timeout_ns % 1'000'000'000)};
  ring().submit_and_wait(&timeout, 1 + completing_at_once_);
  completing_at_once_ = 0;
  reap();
}

void UringLoadThread::reap() {
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring_->get(), head, cqe) {
    dispatch({cqe->user_data, cqe->res, cqe->flags});
    ++seen;
  }
  io_uring_cq_advance(ring_->get(), seen);
}

void UringLoadThread::dispatch(const Completion& cq) {
  if (cq.user_data == LIBURING_UDATA_TIMEOUT) return;  // liburing's own wait timeout (before 5.11)
  if (!cq.more()) --in_flight_;
  const Tag tag = Tag::decode(cq.user_data);
  switch (tag.op) {
    case Op::connect: {
      Socket& s = sockets_[tag.slot];
      if (tag.generation != s.generation) break;  // the socket it watched is closed
      s.connect_armed = false;
      if (!draining_) on_connect_done(connection(tag.slot));
      break;
    }
    case Op::recv: on_recv(tag, cq); break;
    case Op::send: on_send(tag, cq); break;
    case Op::cancel: break;  // what matters is the cancelled operation's own completion
  }
}

void UringLoadThread::watch_connect(Connection& c) {
  io_uring_prep_poll_add(queue(tag(Op::connect, c)), c.fd.get(), POLLOUT);
  sockets_[index_of(c)].connect_armed = true;
}

void UringLoadThread::watch_replies(Connection& c) {
  Socket& s = sockets_[index_of(c)];
  if (s.recv_armed) return;
  io_uring_sqe* sqe = queue(tag(Op::recv, c));
  io_uring_prep_recv_multishot(sqe, c.fd.get(), nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  s.recv_armed = true;
}

void UringLoadThread::on_recv(Tag tag, const Completion& cq) {
  Socket& s = sockets_[tag.slot];
  Connection& c = connection(tag.slot);
  const bool current = tag.generation == s.generation && !draining_;
  if (current && !cq.more()) s.recv_armed = false;
  if (cq.flags & IORING_CQE_F_BUFFER) {
    const unsigned id = cq.flags >> IORING_CQE_BUFFER_SHIFT;
    if (current && cq.res > 0) on_bytes(c, buffers_->bytes(id, static_cast<std::size_t>(cq.res)));
    buffers_->give_back(id);  // checked: the kernel may fill it again
  }
  if (!current || tag.generation != s.generation) return;  // (on_bytes may have closed the socket)
  if (cq.res == 0 || (cq.res < 0 && cq.res != -ENOBUFS && cq.res != -ECANCELED)) {
    on_broken(c);  // the server closed it, or -ECONNRESET and the like
    return;
  }
  // The kernel ended the multishot recv (-ENOBUFS: the buffer ring ran dry). Armed again: the
  // next submit carries it, after this batch has given its buffers back.
  if (!s.recv_armed && c.state == Connection::State::ready) watch_replies(c);
}

void UringLoadThread::send(Connection& c) {
  Socket& s = sockets_[index_of(c)];
  if (s.send_in_flight || !has_unsent(c)) return;  // its completion sends the rest
  if (!s.sending) s.sending = std::make_unique<Sending>();
  Sending& out = *s.sending;
  const int n = pending_iov(c, out.iov, kMaxSendIov);
  io_uring_sqe* sqe = queue(tag(Op::send, c));
  if (n == 1) {
    io_uring_prep_send(sqe, c.fd.get(), out.iov[0].iov_base, out.iov[0].iov_len, MSG_NOSIGNAL);
  } else {
    out.msg = {};
    out.msg.msg_iov = out.iov;
    out.msg.msg_iovlen = static_cast<std::size_t>(n);
    io_uring_prep_sendmsg(sqe, c.fd.get(), &out.msg, MSG_NOSIGNAL);
  }
  s.send_in_flight = true;
  ++completing_at_once_;
}

void UringLoadThread::on_send(Tag tag, const Completion& cq) {
  Socket& s = sockets_[tag.slot];
  Connection& c = connection(tag.slot);
  s.send_in_flight = false;
  if (tag.generation == s.generation) {
    // Draining too: what went out is counted sent (the server may answer it), nothing more goes.
    if (draining_) {
      if (cq.res > 0) sent(c, static_cast<std::size_t>(cq.res));
      return;
    }
    if (cq.res <= 0) {  // -EPIPE, -ECONNRESET (MSG_NOSIGNAL: no SIGPIPE)
      on_broken(c);
      return;
    }
    sent(c, static_cast<std::size_t>(cq.res));  // short: the rest goes next
  }
  // A new socket's requests waited for the last socket's send to let go of `sending`.
  if (!draining_ && c.state == Connection::State::ready) send(c);
}

void UringLoadThread::forget(Connection& c) {
  Socket& s = sockets_[index_of(c)];
  if (s.recv_armed) cancel(tag(Op::recv, c));
  if (s.connect_armed) cancel(tag(Op::connect, c));
  // A send waiting for room would hold the socket open: shut down, it fails at once.
  if (s.send_in_flight) ::shutdown(c.fd.get(), SHUT_RDWR);
  s.recv_armed = s.connect_armed = false;
  s.generation = (s.generation + 1) & Tag::kGenerationMask;
}

// Cancels everything, waits for the last completion, then lets the ring and its buffers go:
// the kernel is done with this thread's memory. One cancel per operation, by its user_data (a
// hash lookup): IORING_ASYNC_CANCEL_ALL scans every operation for each one it cancels, which
// took a second at 10,000 connections.
void UringLoadThread::finish_io() {
  if (!ring_) return;
  draining_ = true;
  for (std::size_t i = 0; i < connection_count(); ++i) {
    const Connection& c = connection(i);
    const Socket& s = sockets_[i];
    if (s.recv_armed) cancel(tag(Op::recv, c));
    if (s.connect_armed) cancel(tag(Op::connect, c));
    if (s.send_in_flight) cancel(tag(Op::send, c));  // (a last socket's: its shutdown ends it)
  }
  for (const std::uint64_t deadline = now_ns() + kDrainTimeoutNs; in_flight_ > 0 && now_ns() < deadline;)
    wait(kDrainSliceNs);
  if (in_flight_ > 0) return;  // left to the ring's teardown
  const std::lock_guard mapping(ring_mappings());
  buffers_.reset();
  ring_.reset();
}

}  // namespace

std::unique_ptr<LoadThread> make_uring_load_thread(const LoadConfig& config, std::size_t first, std::size_t count,
                                                   std::size_t idle, const std::atomic<std::uint64_t>& stop_ns) {
  return std::make_unique<UringLoadThread>(config, first, count, idle, stop_ns);
}

}  // namespace mux
