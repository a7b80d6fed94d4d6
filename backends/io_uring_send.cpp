// The io_uring loop's send path: at most one send per connection in flight (two on one socket
// can reorder its data), from a buffer frozen until the kernel is done with it.
//
// +zc (IORING_OP_SEND_ZC, 6.0): a send of at least ctx.knobs.zc_threshold bytes pins the buffer's
// pages instead of copying them, and completes twice: first its result (IORING_CQE_F_MORE set
// when a notification follows), then a notification (IORING_CQE_F_NOTIF) once the kernel no
// longer reads the pages; TCP may retransmit from them until then. So `sending` is neither
// consumed, nor reused, nor freed before the notification.
#include <sys/socket.h>

#include "backends/io_uring_loop.hpp"

namespace mux {

void IoUringLoop::flush(UringConnection& c) {
  if (c.send_busy()) return;
  if (c.sending.empty()) {
    if (c.out.empty()) return;
    c.sending.swap(c.out);
  }
  const auto bytes = c.sending.readable();
  io_uring_sqe* sqe = ring_.next_sqe();
  if (features_.zero_copy && ctx_.tcp && use_zero_copy(bytes.size(), ctx_.knobs.zc_threshold))
    io_uring_prep_send_zc(sqe, c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL, 0);
  else
    io_uring_prep_send(sqe, c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  on_socket(sqe);
  c.send_op = queue(sqe, {Op::send, c.slot, c.generation});
  c.send_in_flight = true;
}

void IoUringLoop::on_send(Tag tag, const Completion& cq) {
  UringConnection* c = find(tag);
  if (c == nullptr) return;
  if (cq.flags & IORING_CQE_F_NOTIF) {  // +zc: the pages are ours again
    c->notif_pending = false;
    c->sending.consume(c->zc_sent);
    c->zc_sent = 0;
  } else {
    c->send_in_flight = false;
    if (cq.res > 0) {
      const auto sent = static_cast<std::size_t>(cq.res);  // short send: flush sends the rest
      if (cq.more()) {  // a zero-copy send: consumed at its notification
        c->notif_pending = true;
        c->zc_sent = sent;
      } else {
        c->sending.consume(sent);
      }
    } else {
      c->notif_pending = cq.more();  // a failed zero-copy send may still notify
      close(*c, Ending::reset);  // -EPIPE, -ECONNRESET (nothing if closed already)
    }
  }
  after_event(*c);
}

}  // namespace mux
