// The io_uring loop (backends/io_uring_loop.hpp): accept, receive, and each connection's life.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "backends/io_uring_loop.hpp"
#include "core/clock.hpp"
#include "core/io_uring_uapi.hpp"
#include "core/net.hpp"

namespace mux {
namespace {

constexpr std::uint64_t kDrainTimeoutNs = 2'000'000'000;

// Accept errors retried at once: a peer that gave up before its turn, a signal, our own cancel.
bool is_transient_accept_error(int err) {
  return err == ECONNABORTED || err == EINTR || err == EAGAIN || err == ECANCELED;
}

}  // namespace

IoUringLoop::IoUringLoop(const ServeContext& ctx, IoUringFeatures features)
    : ctx_(ctx),
      features_(features),
      ring_(ring_setup(features)),
      acceptor_(ctx.listen_fd, *ctx.counters),
      accept_pause_{.tv_sec = 0, .tv_nsec = kAcceptPauseMs * 1'000'000LL},
      accept_multishot_(!features.single_shot) {
  if (features.fixed_files) register_fixed_files(ring_);
  if (!features.single_shot) buffers_ = make_receive_buffers(ring_.get(), ctx.knobs.read_size);
  recv_multishot_ = buffers_ != nullptr;
  bundle_ = features.bundle && recv_multishot_ && (ring_.kernel_features() & IORING_FEAT_RECVSEND_BUNDLE) != 0;
  if (features.bundle && !bundle_)
    throw std::runtime_error(bundle_support(ring_.kernel_features()).empty()
                                 ? "io_uring+bundle: no provided-buffer ring here; choose --backend=io_uring"
                                 : bundle_support(ring_.kernel_features()));
  // A direct descriptor takes no setsockopt(2): accepted sockets inherit TCP_NODELAY from the
  // listener instead (Linux copies the listener's TCP options into each child). A Unix socket
  // has no TCP options.
  if (features.fixed_files && ctx.tcp) set_nodelay(ctx.listen_fd);
}

IoUringLoop::~IoUringLoop() {
  try {
    shut_down();
  } catch (...) {  // the ring could not even take the cancels: its teardown cancels the rest
  }
  if (!features_.fixed_files)  // what the drain left open (fixed slots go with the ring)
    for (auto& c : conns_)
      if (c != nullptr && c->fd >= 0) ::close(c->fd);
}

void IoUringLoop::run() {
  watch_stop_fd();
  if (ctx_.listen_fd >= 0) arm_accept();
  if (ctx_.handoff_fd >= 0) watch_handoffs();
  if (ctx_.started != nullptr) *ctx_.started = true;  // the ring exists; its first submit follows
  while (!stop_requested_) {
    ring_.submit_and_wait();
    process_completions();
  }
  shut_down();
}

void IoUringLoop::process_completions() {
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring_.get(), head, cqe) {
    dispatch({cqe->user_data, cqe->res, cqe->flags});
    ++seen;
  }
  io_uring_cq_advance(ring_.get(), seen);
}

void IoUringLoop::dispatch(const Completion& cq) {
  if (cq.user_data == LIBURING_UDATA_TIMEOUT) return;  // liburing's own wait timeout (old kernels)
  if (!cq.more()) --in_flight_;
  const Tag tag = Tag::decode(cq.user_data);
  switch (tag.op) {
    case Op::stop:
      stop_armed_ = false;
      stop_requested_ = true;
      break;
    case Op::accept: on_accept(cq); break;
    case Op::accept_pause:
      accept_paused_ = false;
      if (!accept_armed_) arm_accept();
      break;
    case Op::recv_multishot:
    case Op::recv_single: on_recv(tag, cq); break;
    case Op::send: on_send(tag, cq); break;
    case Op::handoff:
      handoff_armed_ = false;
      take_handoffs();
      watch_handoffs();
      break;
    case Op::shutdown:  // +fixed: its table slot may be closed now (see close())
      if (UringConnection* c = find(tag)) {
        c->shutdown_in_flight = false;
        after_event(*c);
      }
      break;
    case Op::cancel:        // what matters is the cancelled operation's own completion
    case Op::close_direct:  // the slot is free again: the kernel allocates it anew
      break;
  }
}

std::uint64_t IoUringLoop::queue(io_uring_sqe* sqe, Tag tag) {
  const std::uint64_t user_data = tag.encode();
  io_uring_sqe_set_data64(sqe, user_data);
  ++in_flight_;
  return user_data;
}

void IoUringLoop::cancel(std::uint64_t user_data) {
  io_uring_sqe* sqe = ring_.next_sqe();
  io_uring_prep_cancel64(sqe, user_data, 0);
  queue(sqe, {Op::cancel});
}

// A poll, not a read: the eventfd stays readable for anyone else watching it.
void IoUringLoop::watch_stop_fd() {
  io_uring_sqe* sqe = ring_.next_sqe();
  io_uring_prep_poll_add(sqe, ctx_.stop_fd, POLLIN);
  queue(sqe, {Op::stop});
  stop_armed_ = true;
}

void IoUringLoop::arm_accept() {
  if (stopping_) return;
  io_uring_sqe* sqe = ring_.next_sqe();
  const int fd = ctx_.listen_fd;
  if (features_.fixed_files) {  // into a free slot the kernel picks (no SOCK_CLOEXEC: no fd to inherit)
    if (accept_multishot_)
      io_uring_prep_multishot_accept_direct(sqe, fd, nullptr, nullptr, 0);
    else
      io_uring_prep_accept_direct(sqe, fd, nullptr, nullptr, 0, IORING_FILE_INDEX_ALLOC - 1);
  } else if (accept_multishot_) {
    io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  queue(sqe, {Op::accept});
  accept_armed_ = true;
}

// --accept=handoff: a one-shot poll on the pipe, then plain reads until EAGAIN. (A read
// submitted to the ring would come back -EAGAIN at once: the pipe is O_NONBLOCK.) The poll
// checks readiness when armed, so a write between the last read and the re-arm is not lost.
// The fds are ordinary ones, so the +fixed variants (direct descriptors) offer no handoff.
void IoUringLoop::watch_handoffs() {
  if (stopping_) return;
  io_uring_sqe* sqe = ring_.next_sqe();
  io_uring_prep_poll_add(sqe, ctx_.handoff_fd, POLLIN);
  queue(sqe, {Op::handoff});
  handoff_armed_ = true;
}

void IoUringLoop::take_handoffs() {
  take_handed_off_fds(ctx_.handoff_fd, [this](int fd) { add_connection(fd); });
}

void IoUringLoop::on_accept(const Completion& cq) {
  if (!cq.more()) accept_armed_ = false;
  if (cq.res >= 0) {
    add_connection(cq.res);
  } else if (cq.res == -EINVAL && accept_multishot_) {
    accept_multishot_ = false;  // kernel older than 5.19: accept one at a time
  } else if (!stopping_ && !is_transient_accept_error(-cq.res)) {
    on_accept_error(-cq.res);  // +fixed: -ENFILE when the table is full, handled as EMFILE
  }
  if (!accept_armed_ && !accept_paused_) arm_accept();
}

void IoUringLoop::on_accept_error(int err) {
  if (!acceptor_.must_pause_after(err)) return;  // a pending connection dropped: accepting goes on
  io_uring_sqe* sqe = ring_.next_sqe();
  io_uring_prep_timeout(sqe, &accept_pause_, 0, 0);
  queue(sqe, {Op::accept_pause});
  accept_paused_ = true;
}

void IoUringLoop::add_connection(int fd) {
  if (!features_.fixed_files && ctx_.tcp) set_nodelay(fd);
  const std::uint32_t slot = take_slot();
  auto& c = conns_[slot];
  c = std::make_unique<UringConnection>(ctx_);
  c->fd = fd;
  c->slot = slot;
  c->generation = next_generation_++ & Tag::kGenerationMask;
  if (stopping_) close(*c);  // accepted while the server stops: nobody will serve it
  after_event(*c);           // arms the first recv
}

std::uint32_t IoUringLoop::take_slot() {
  if (free_slots_.empty()) {
    conns_.emplace_back();
    return static_cast<std::uint32_t>(conns_.size() - 1);
  }
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

// nullptr for a completion about a connection already freed; cannot happen while freeing
// waits for the last operation, but a stale tag must never reach the next occupant.
UringConnection* IoUringLoop::find(Tag tag) {
  if (tag.slot >= conns_.size()) return nullptr;
  UringConnection* c = conns_[tag.slot].get();
  return c != nullptr && c->generation == tag.generation ? c : nullptr;
}

void IoUringLoop::arm_recv(UringConnection& c) {
  io_uring_sqe* sqe = ring_.next_sqe();
  Tag tag{Op::recv_multishot, c.slot, c.generation};
  if (recv_multishot_) {  // one submission, a completion per arrival, buffers from the ring
    io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    if (bundle_) sqe->ioprio |= IORING_RECVSEND_BUNDLE;  // as many buffers as the data fills
  } else {
    if (!c.recv_buffer) c.recv_buffer = std::make_unique_for_overwrite<char[]>(ctx_.knobs.read_size);
    io_uring_prep_recv(sqe, c.fd, c.recv_buffer.get(), static_cast<unsigned>(ctx_.knobs.read_size), 0);
    tag.op = Op::recv_single;
  }
  on_socket(sqe);
  c.recv_op = queue(sqe, tag);
  c.recv_armed = true;
}

void IoUringLoop::cancel_recv(UringConnection& c) {
  if (c.recv_cancelled) return;
  c.recv_cancelled = true;
  cancel(c.recv_op);
}

void IoUringLoop::on_recv(Tag tag, const Completion& cq) {
  UringConnection* c = find(tag);
  if (c != nullptr) {
    if (!cq.more()) c->recv_armed = c->recv_cancelled = false;
    if (cq.res == 0) {
      c->end_of_input();
    } else if (cq.res == -EINVAL && tag.op == Op::recv_multishot) {
      recv_multishot_ = bundle_ = false;  // kernel older than 6.0: receive into per-connection buffers
    } else if (cq.res < 0 && cq.res != -ENOBUFS && cq.res != -ECANCELED) {
      // (-ENOBUFS: the buffer ring ran dry; -ECANCELED: ours. after_event re-arms if wanted.)
      close(*c, Ending::reset);  // -ECONNRESET and the like
    }
  }
  // Hand the buffers back at once (the codec has copied what it needs into the output), but
  // while this recv's cancel is on its way: see UringConnection::held_buffers.
  const bool hold = c != nullptr && c->recv_cancelled && cq.more();
  const auto hand_back = [&](unsigned id) {
    if (hold)
      c->held_buffers.push_back(id);
    else
      buffers_->give_back(id);
  };
  if (cq.flags & IORING_CQE_F_BUFFER) {
    const unsigned id = cq.flags >> IORING_CQE_BUFFER_SHIFT;
    const auto n = static_cast<std::size_t>(cq.res);
    if (bundle_) {
      for (const unsigned taken : buffers_->take_bundle(id, n, [&](std::span<const char> bytes) {
             if (c != nullptr) c->take_input(bytes);
           }))
        hand_back(taken);
    } else {
      if (c != nullptr) c->take_input(buffers_->bytes(id, n));
      hand_back(id);
    }
  } else if (c != nullptr && cq.res > 0) {
    c->take_input({c->recv_buffer.get(), static_cast<std::size_t>(cq.res)});
  }
  if (c != nullptr && !c->recv_armed) {  // the recv ended (cancelled or not): nothing more lands in them
    for (const unsigned id : c->held_buffers) buffers_->give_back(id);
    c->held_buffers.clear();
  }
  if (c != nullptr) after_event(*c);
}

// After every completion: brings the connection's operations in line with its state, then
// frees it when it is closed and the kernel no longer refers to it.
void IoUringLoop::after_event(UringConnection& c) {
  update(c);
  if (c.closed() && !c.recv_armed && !c.send_busy() && !c.shutdown_in_flight) release(c);
}

void IoUringLoop::update(UringConnection& c) {
  if (c.closed()) return;
  flush(c);
  if (c.draining() && !c.send_busy()) {  // everything answered and sent
    close(c);
    return;
  }
  // Backpressure: a client that does not read its replies stops being read; its recv is
  // cancelled (a multishot one would keep delivering) and re-armed once the output drains.
  const bool want_input = c.wants_input(c.sending.size());
  if (want_input && !c.recv_armed) arm_recv(c);
  if (!want_input && c.recv_armed) cancel_recv(c);
}

void IoUringLoop::close(UringConnection& c, Ending how) {
  if (!c.mark_closed(how)) return;
  // shutdown() makes the operations still queued on the socket complete soon; the cancels
  // cover a socket shutdown() refuses. The fd itself is closed when the state is freed.
  // +fixed: the kernel runs a shutdown in an io-wq worker, which looks its table slot up only
  // then; closing the slot before it completes let a new connection take the slot and be shut
  // down instead (a new client read EOF), so the slot is closed after the shutdown completes.
  if (features_.fixed_files) {
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_shutdown(sqe, c.fd, SHUT_RDWR);
    on_socket(sqe);
    queue(sqe, {Op::shutdown, c.slot, c.generation});
    c.shutdown_in_flight = true;
  } else {
    ::shutdown(c.fd, SHUT_RDWR);
  }
  if (c.recv_armed) cancel_recv(c);
  if (c.send_in_flight) cancel(c.send_op);
}

void IoUringLoop::release(UringConnection& c) {
  if (features_.fixed_files) {  // frees the table slot; queued after everything on it
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.fd));
    queue(sqe, {Op::close_direct});
  } else {
    ::close(c.fd);
    acceptor_.restore_spare();  // another loop's accept may have taken the spare at EMFILE
  }
  const std::uint32_t slot = c.slot;
  conns_[slot].reset();  // destroys c
  free_slots_.push_back(slot);
}

// Closes every connection, cancels the rest, and waits until no operation is in flight.
void IoUringLoop::shut_down() {
  if (std::exchange(stopping_, true)) return;
  if (stop_armed_) cancel(Tag{Op::stop}.encode());
  if (accept_armed_) cancel(Tag{Op::accept}.encode());
  if (accept_paused_) cancel(Tag{Op::accept_pause}.encode());
  if (handoff_armed_) cancel(Tag{Op::handoff}.encode());
  for (auto& c : conns_) {
    if (c == nullptr) continue;
    close(*c);
    after_event(*c);
  }
  const std::uint64_t deadline = now_ns() + kDrainTimeoutNs;
  while (in_flight_ > 0 && now_ns() < deadline) {
    __kernel_timespec slice{.tv_sec = 0, .tv_nsec = 100'000'000};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(ring_.get(), &cqe, 1, &slice, nullptr);
    process_completions();
  }
}

namespace {

class IoUringBackend final : public Backend {
 public:
  explicit IoUringBackend(IoUringFeatures features) : features_(features) {}
  void serve(const ServeContext& ctx) override { IoUringLoop(ctx, features_).run(); }

 private:
  IoUringFeatures features_;
};

}  // namespace

std::unique_ptr<Backend> make_io_uring_backend(IoUringFeatures features) {
  return std::make_unique<IoUringBackend>(features);
}

}  // namespace mux
