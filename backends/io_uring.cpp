// io_uring(7), completion-based: instead of asking which sockets are ready and then reading
// them, the loop keeps operations queued on every socket (a multishot recv into buffers the
// kernel picks, at most one send) and reacts to what completed. One thread, one ring.
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/io_uring.hpp"
#include "backends/io_uring_ring.hpp"
#include "core/acceptor.hpp"
#include "core/byte_buffer.hpp"
#include "core/clock.hpp"
#include "core/net.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

// Stop reading from a client that does not read its replies once this much output is queued.
constexpr std::size_t kOutputHighWater = 4 * 1024 * 1024;
// What a connection's output buffers keep when they empty. A multishot recv delivers several
// read_size completions per connection in one batch while that connection's send is in flight,
// so the output grows past ByteBuffer's default (64 KiB) on every large request; freeing it and
// growing it again cost ~45 µs per 4 KiB page fault on this project's VMs (the 100 x 256 KiB
// collapse: ~45 faults and ~3 ms of server CPU per request).
constexpr std::size_t kOutputKeepCapacity = 1024 * 1024;
constexpr long long kAcceptPauseNs = 100'000'000;
constexpr std::uint64_t kDrainTimeoutNs = 2'000'000'000;

// Accept errors retried at once: a peer that gave up before its turn, a signal, our own cancel.
bool is_transient_accept_error(int err) {
  return err == ECONNABORTED || err == EINTR || err == EAGAIN || err == ECANCELED;
}

struct Connection {
  UniqueFd fd;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::unique_ptr<ServerCodec> codec;
  ByteBuffer out{kOutputKeepCapacity};      // the codec appends replies here
  ByteBuffer sending{kOutputKeepCapacity};  // frozen while its send is in flight: the kernel reads from it
  std::unique_ptr<char[]> recv_buffer;  // single-shot receives only
  std::uint64_t recv_op = 0;            // user_data of the armed recv and send, to cancel them
  std::uint64_t send_op = 0;
  bool recv_armed = false;
  bool recv_cancelled = false;  // a cancel is already on its way to the armed recv
  bool send_in_flight = false;  // one at most: two sends on a socket can reorder its data
  bool draining = false;        // peer finished sending or broke the protocol: flush, then close
  bool closed = false;          // counted and shut down; freed once no operation refers to it
};

class IoUringLoop {
 public:
  IoUringLoop(const ServeContext& ctx, IoUringFeatures features)
      : ctx_(ctx),
        ring_(features.defer_taskrun),
        acceptor_(ctx.listen_fd),
        accept_multishot_(!features.single_shot) {
    if (!features.single_shot) buffers_ = BufferRing::create(ring_.get(), ctx.read_size);
    recv_multishot_ = buffers_ != nullptr;
  }

  // Also on the way out of an exception: the kernel must be done with our memory before the
  // members (buffers, connections) are freed.
  ~IoUringLoop() {
    try {
      shut_down();
    } catch (...) {  // the ring could not even take the cancels: its teardown cancels the rest
    }
  }

  void run() {
    watch_stop_fd();
    arm_accept();
    while (!stop_requested_) {
      ring_.submit_and_wait();
      process_completions();
    }
    shut_down();
  }

 private:
  void process_completions() {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      dispatch({cqe->user_data, cqe->res, cqe->flags});
      ++seen;
    }
    io_uring_cq_advance(ring_.get(), seen);
  }

  void dispatch(const Completion& cq) {
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
      case Op::cancel: break;  // what matters is the cancelled operation's own completion
    }
  }

  std::uint64_t queue(io_uring_sqe* sqe, Tag tag) {
    const std::uint64_t user_data = tag.encode();
    io_uring_sqe_set_data64(sqe, user_data);
    ++in_flight_;
    return user_data;
  }

  void cancel(std::uint64_t user_data) {
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_cancel64(sqe, user_data, 0);
    queue(sqe, {Op::cancel});
  }

  // A poll, not a read: the eventfd stays readable for anyone else watching it.
  void watch_stop_fd() {
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_poll_add(sqe, ctx_.stop_fd, POLLIN);
    queue(sqe, {Op::stop});
    stop_armed_ = true;
  }

  void arm_accept() {
    if (stopping_) return;
    io_uring_sqe* sqe = ring_.next_sqe();
    if (accept_multishot_)
      io_uring_prep_multishot_accept(sqe, ctx_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    else
      io_uring_prep_accept(sqe, ctx_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    queue(sqe, {Op::accept});
    accept_armed_ = true;
  }

  void on_accept(const Completion& cq) {
    if (!cq.more()) accept_armed_ = false;
    if (cq.res >= 0) {
      add_connection(UniqueFd(cq.res));
    } else if (cq.res == -EINVAL && accept_multishot_) {
      accept_multishot_ = false;  // kernel older than 5.19: accept one at a time
    } else if (!stopping_ && !is_transient_accept_error(-cq.res)) {
      on_accept_error(-cq.res);
    }
    if (!accept_armed_ && !accept_paused_) arm_accept();
  }

  void on_accept_error(int err) {
    if (acceptor_.on_error(err) == Acceptor::Outcome::dropped) {
      ctx_.counters->dropped_at_accept++;
      return;
    }
    // Out of fds with no spare, or worse: failing again at once would spin, so wait a little.
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_timeout(sqe, &accept_pause_, 0, 0);
    queue(sqe, {Op::accept_pause});
    accept_paused_ = true;
  }

  void add_connection(UniqueFd fd) {
    set_nodelay(fd.get());
    ctx_.counters->accepted++;
    const std::uint32_t slot = take_slot();
    auto& c = conns_[slot];
    c = std::make_unique<Connection>();
    c->fd = std::move(fd);
    c->slot = slot;
    c->generation = next_generation_++ & Tag::kGenerationMask;
    c->codec = ctx_.make_codec();
    if (stopping_) close(*c);  // accepted while the server stops: nobody will serve it
    after_event(*c);           // arms the first recv
  }

  std::uint32_t take_slot() {
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
  Connection* find(Tag tag) {
    if (tag.slot >= conns_.size()) return nullptr;
    Connection* c = conns_[tag.slot].get();
    return c != nullptr && c->generation == tag.generation ? c : nullptr;
  }

  void arm_recv(Connection& c) {
    io_uring_sqe* sqe = ring_.next_sqe();
    Tag tag{Op::recv_multishot, c.slot, c.generation};
    if (recv_multishot_) {  // one submission, a completion per arrival, buffers from the ring
      io_uring_prep_recv_multishot(sqe, c.fd.get(), nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = kBufferGroup;
    } else {
      if (!c.recv_buffer) c.recv_buffer = std::make_unique_for_overwrite<char[]>(ctx_.read_size);
      io_uring_prep_recv(sqe, c.fd.get(), c.recv_buffer.get(), static_cast<unsigned>(ctx_.read_size), 0);
      tag.op = Op::recv_single;
    }
    c.recv_op = queue(sqe, tag);
    c.recv_armed = true;
  }

  void cancel_recv(Connection& c) {
    if (c.recv_cancelled) return;
    c.recv_cancelled = true;
    cancel(c.recv_op);
  }

  void on_recv(Tag tag, const Completion& cq) {
    Connection* c = find(tag);
    if (c != nullptr) {
      if (!cq.more()) c->recv_armed = c->recv_cancelled = false;
      if (cq.res > 0) {
        take_input(*c, received(*c, cq));
      } else if (cq.res == 0) {
        c->draining = true;  // peer finished sending: answer what it sent, then close
      } else if (cq.res == -EINVAL && tag.op == Op::recv_multishot) {
        recv_multishot_ = false;  // kernel older than 6.0: receive into per-connection buffers
      } else if (cq.res == -ENOBUFS || cq.res == -ECANCELED) {
        // The buffer ring ran dry, or we cancelled: after_event re-arms if input is wanted.
      } else if (!c->closed) {
        ctx_.counters->resets++;  // -ECONNRESET and the like
        close(*c);
      }
    }
    // Hand the buffer back at once: the codec has copied what it needs into the output.
    if (cq.flags & IORING_CQE_F_BUFFER) buffers_->give_back(cq.flags >> IORING_CQE_BUFFER_SHIFT);
    if (c != nullptr) after_event(*c);
  }

  std::span<const char> received(const Connection& c, const Completion& cq) const {
    const auto n = static_cast<std::size_t>(cq.res);
    if (cq.flags & IORING_CQE_F_BUFFER) return buffers_->bytes(cq.flags >> IORING_CQE_BUFFER_SHIFT, n);
    return {c.recv_buffer.get(), n};
  }

  void take_input(Connection& c, std::span<const char> bytes) {
    if (c.draining || c.closed) return;  // no longer answering: drop what is still arriving
    if (!c.codec->on_bytes(bytes, c.out)) {
      if (c.codec->broke_protocol()) ctx_.counters->protocol_errors++;
      c.draining = true;
    }
  }

  void flush(Connection& c) {
    if (c.send_in_flight) return;
    if (c.sending.empty()) {
      if (c.out.empty()) return;
      c.sending.swap(c.out);
    }
    const auto bytes = c.sending.readable();
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_send(sqe, c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    c.send_op = queue(sqe, {Op::send, c.slot, c.generation});
    c.send_in_flight = true;
  }

  void on_send(Tag tag, const Completion& cq) {
    Connection* c = find(tag);
    if (c == nullptr) return;
    c->send_in_flight = false;
    if (cq.res > 0) {
      c->sending.consume(static_cast<std::size_t>(cq.res));  // short send: flush sends the rest
    } else if (!c->closed) {
      ctx_.counters->resets++;  // -EPIPE, -ECONNRESET
      close(*c);
    }
    after_event(*c);
  }

  // After every completion: brings the connection's operations in line with its state, then
  // frees it when it is closed and the kernel no longer refers to it.
  void after_event(Connection& c) {
    update(c);
    if (c.closed && !c.recv_armed && !c.send_in_flight) release(c);
  }

  void update(Connection& c) {
    if (c.closed) return;
    flush(c);
    if (c.draining && !c.send_in_flight) {  // everything answered and sent
      close(c);
      return;
    }
    // Backpressure: a client that does not read its replies stops being read; its recv is
    // cancelled (a multishot one would keep delivering) and re-armed once the output drains.
    const bool want_input = !c.draining && c.out.size() + c.sending.size() < kOutputHighWater;
    if (want_input && !c.recv_armed) arm_recv(c);
    if (!want_input && c.recv_armed) cancel_recv(c);
  }

  void close(Connection& c) {
    c.closed = true;
    ctx_.counters->requests += c.codec->requests();
    ctx_.counters->closed++;
    // shutdown() makes the operations still queued on the socket complete soon; the cancels
    // cover a socket shutdown() refuses. The fd itself is closed when the state is freed.
    ::shutdown(c.fd.get(), SHUT_RDWR);
    if (c.recv_armed) cancel_recv(c);
    if (c.send_in_flight) cancel(c.send_op);
  }

  void release(Connection& c) {
    const std::uint32_t slot = c.slot;
    conns_[slot].reset();  // destroys c: closes the fd
    free_slots_.push_back(slot);
  }

  // Closes every connection, cancels the rest, and waits until no operation is in flight.
  void shut_down() {
    if (std::exchange(stopping_, true)) return;
    if (stop_armed_) cancel(Tag{Op::stop}.encode());
    if (accept_armed_) cancel(Tag{Op::accept}.encode());
    if (accept_paused_) cancel(Tag{Op::accept_pause}.encode());
    for (auto& c : conns_) {
      if (c == nullptr) continue;
      if (!c->closed) close(*c);
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

  ServeContext ctx_;
  Ring ring_;
  std::unique_ptr<BufferRing> buffers_;  // nullptr: single-shot receives
  Acceptor acceptor_;
  std::vector<std::unique_ptr<Connection>> conns_;  // indexed by slot
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t next_generation_ = 0;
  std::size_t in_flight_ = 0;  // operations whose last completion has not arrived
  __kernel_timespec accept_pause_{.tv_sec = 0, .tv_nsec = kAcceptPauseNs};
  bool accept_multishot_;
  bool recv_multishot_ = false;
  bool accept_armed_ = false;
  bool accept_paused_ = false;
  bool stop_armed_ = false;
  bool stop_requested_ = false;
  bool stopping_ = false;
};

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
