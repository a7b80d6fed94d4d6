// io_uring(7), completion-based: instead of asking which sockets are ready and then reading
// them, the loop keeps operations queued on every socket (a multishot recv into buffers the
// kernel picks, at most one send) and reacts to what completed. One thread, one ring.
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "backends/io_uring.hpp"
#include "core/acceptor.hpp"
#include "core/byte_buffer.hpp"
#include "core/clock.hpp"
#include "core/net.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

constexpr unsigned kSubmissionEntries = 4096;
// Multishot operations post many completions per submission: a CQ much larger than the SQ
// keeps a burst from spilling into the kernel's slower overflow list.
constexpr unsigned kCompletionEntries = 4 * kSubmissionEntries;
// Provided buffers, one per receive completion, of ctx.read_size bytes each. They are shared by
// all connections and handed back as soon as their completion is consumed, so their number
// bounds the completions of one batch, not the connections; running dry only costs a re-armed
// recv (-ENOBUFS). The ring hands them out in turn, so over a run every buffer gets touched:
// its memory is a fixed budget whatever the read size, divided into buffers of that size
// (4096 of 8 KiB, 512 of 64 KiB, 8 of kMaxReadSize): the buffers never take more than that.
constexpr std::size_t kBufferRingBytes = 32 * 1024 * 1024;
// The kernel takes a power-of-two number of buffers below 65536 (ids are 16 bits).
constexpr unsigned kMaxBufferCount = 32768;
constexpr unsigned kMinBufferCount = 8;
static_assert(kBufferRingBytes / kMaxReadSize >= kMinBufferCount, "the budget holds the fewest buffers at the largest size");
static_assert(kMaxReadSize <= UINT32_MAX, "a provided buffer's length is 32 bits");
constexpr std::uint16_t kBufferGroup = 0;
// Stop reading from a client that does not read its replies once this much output is queued.
constexpr std::size_t kOutputHighWater = 4 * 1024 * 1024;
constexpr long long kAcceptPauseNs = 100'000'000;
constexpr std::uint64_t kDrainTimeoutNs = 2'000'000'000;

std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  in >> value;
  return value;
}

// One line for the user: what failed, and what to do about it.
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

// The ring, in the cheapest task-running mode the kernel accepts: DEFER_TASKRUN (6.1) runs
// completion work only when this thread waits, COOP_TASKRUN (5.19) at least spares the
// interrupts; older kernels reject either with -EINVAL. Without `defer_taskrun` (the
// io_uring+nodefer variant) the first mode is skipped.
class Ring {
 public:
  Ring(unsigned entries, bool defer_taskrun) {
    const unsigned all_modes[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
                                  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE, 0};
    const std::span<const unsigned> modes = std::span(all_modes).subspan(defer_taskrun ? 0 : 1);
    int r = -EINVAL;
    for (const unsigned flags : modes) {
      io_uring_params params{};
      params.flags = flags;
      params.cq_entries = kCompletionEntries;
      if ((r = io_uring_queue_init_params(entries, &ring_, &params)) != -EINVAL) break;
    }
    if (r < 0) throw std::runtime_error(describe_setup_failure(-r));
  }
  ~Ring() { io_uring_queue_exit(&ring_); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  io_uring* get() { return &ring_; }

 private:
  io_uring ring_{};
};

// Receive buffers the kernel picks from as data arrives (a provided buffer ring, 5.19+), so an
// idle connection holds none. One anonymous mapping holds the ring, then the buffers.
class BufferRing {
 public:
  // nullptr when the kernel cannot register one: the caller receives into its own buffers.
  static std::unique_ptr<BufferRing> create(io_uring* uring, std::size_t buffer_size) {
    std::unique_ptr<BufferRing> buffers(new BufferRing(uring, buffer_size));
    return buffers->register_with_kernel() ? std::move(buffers) : nullptr;
  }
  ~BufferRing() {
    if (registered_) io_uring_unregister_buf_ring(uring_, kBufferGroup);
    ::munmap(memory_, mapping_bytes_);
  }
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::span<const char> bytes(unsigned id, std::size_t n) const { return {buffer(id), n}; }
  void give_back(unsigned id) {
    io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(ring_, 1);
  }

 private:
  static constexpr std::size_t kPage = 4096;

  BufferRing(io_uring* uring, std::size_t buffer_size)
      : uring_(uring),
        buffer_size_(buffer_size),
        count_(std::clamp(static_cast<unsigned>(std::bit_floor(kBufferRingBytes / buffer_size)), kMinBufferCount,
                          kMaxBufferCount)),
        // The buffers start on a page of their own, after the ring's entries.
        ring_bytes_((count_ * sizeof(io_uring_buf) + kPage - 1) / kPage * kPage),
        mapping_bytes_(ring_bytes_ + std::size_t{count_} * buffer_size) {
    memory_ = ::mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory_ == MAP_FAILED)
      throw std::runtime_error(fmt::format("mmap of {} MiB for io_uring receive buffers: {}",
                                           mapping_bytes_ >> 20, std::strerror(errno)));
    ring_ = static_cast<io_uring_buf_ring*>(memory_);
  }

  bool register_with_kernel() {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_);
    reg.ring_entries = count_;
    reg.bgid = kBufferGroup;
    if (io_uring_register_buf_ring(uring_, &reg, 0) != 0) return false;
    registered_ = true;
    io_uring_buf_ring_init(ring_);
    for (unsigned id = 0; id < count_; ++id)
      io_uring_buf_ring_add(ring_, buffer(id), static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id),
                            io_uring_buf_ring_mask(count_), static_cast<int>(id));
    io_uring_buf_ring_advance(ring_, static_cast<int>(count_));
    return true;
  }

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

// Accept errors retried at once: a peer that gave up before its turn, a signal, our own cancel.
bool is_transient_accept_error(int err) {
  return err == ECONNABORTED || err == EINTR || err == EAGAIN || err == ECANCELED;
}

enum class Op : std::uint8_t { stop, accept, accept_pause, recv_multishot, recv_single, send, cancel };

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

struct Connection {
  UniqueFd fd;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::unique_ptr<ServerCodec> codec;
  ByteBuffer out;      // the codec appends replies here
  ByteBuffer sending;  // frozen while its send is in flight: the kernel reads from it
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
        ring_(kSubmissionEntries, features.defer_taskrun),
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
      wait_for_completions();
      process_completions();
    }
    shut_down();
  }

 private:
  // Submits everything queued during the last batch in one system call, and waits for news.
  void wait_for_completions() {
    const int r = io_uring_submit_and_wait(ring_.get(), 1);
    if (r >= 0 || r == -EINTR) return;  // interrupted: look at what completed, then wait again
    if (r != -EBUSY && r != -EAGAIN)
      throw std::runtime_error(fmt::format("io_uring_submit_and_wait: {}", std::strerror(-r)));
    // The kernel wants completions reaped (or memory freed) before it takes more: wait for one
    // without submitting, so the loop does not spin.
    io_uring_cqe* cqe = nullptr;
    if (io_uring_cq_ready(ring_.get()) == 0) io_uring_wait_cqe(ring_.get(), &cqe);
  }

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

  // A free submission entry; when the queue is full mid-batch, submits what it holds first.
  io_uring_sqe* next_sqe() {
    for (;;) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(ring_.get())) return sqe;
      const int r = io_uring_submit(ring_.get());
      if (r < 0 && r != -EINTR) throw std::runtime_error(fmt::format("io_uring_submit: {}", std::strerror(-r)));
    }
  }

  std::uint64_t queue(io_uring_sqe* sqe, Tag tag) {
    const std::uint64_t user_data = tag.encode();
    io_uring_sqe_set_data64(sqe, user_data);
    ++in_flight_;
    return user_data;
  }

  void cancel(std::uint64_t user_data) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_cancel64(sqe, user_data, 0);
    queue(sqe, {Op::cancel});
  }

  // A poll, not a read: the eventfd stays readable for anyone else watching it.
  void watch_stop_fd() {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_poll_add(sqe, ctx_.stop_fd, POLLIN);
    queue(sqe, {Op::stop});
    stop_armed_ = true;
  }

  void arm_accept() {
    if (stopping_) return;
    io_uring_sqe* sqe = next_sqe();
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
    io_uring_sqe* sqe = next_sqe();
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
    io_uring_sqe* sqe = next_sqe();
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
    io_uring_sqe* sqe = next_sqe();
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

// Every variant needs a ring, and nothing more: the setup modes and multishot operations each
// fall back to what the kernel has (see Ring and the -EINVAL cases).
std::string probe_io_uring() {
  io_uring probe{};
  const int r = io_uring_queue_init(2, &probe, 0);
  if (r < 0) return describe_setup_failure(-r);
  io_uring_queue_exit(&probe);
  return {};
}

}  // namespace mux
