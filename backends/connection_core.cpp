#include "backends/connection_core.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace mux {

ConnectionCore::ConnectionCore(const ServeContext& ctx, std::size_t out_keep_capacity)
    : out(out_keep_capacity), counters_(ctx.counters), codec_(ctx.make_codec()) {
  counters_->accepted++;
}

bool ConnectionCore::take_input(std::span<const char> bytes) {
  if (draining_ || closed_) return false;  // no longer answering: drop what is still arriving
  if (!codec_->on_bytes(bytes, out)) {
    if (codec_->broke_protocol()) counters_->protocol_errors++;
    draining_ = true;
  }
  return !draining_;
}

bool ConnectionCore::mark_closed(Ending how) {
  if (closed_) return false;
  closed_ = true;
  if (how == Ending::reset) counters_->resets++;
  counters_->requests += codec_->requests();
  counters_->closed++;
  return true;
}

bool ServerAcceptor::must_pause_after(int err) {
  if (acceptor_.on_error(err) != Acceptor::Outcome::dropped) return true;
  counters_->dropped_at_accept++;
  return false;
}

bool ServerAcceptor::wait_for_listener(int stop_fd) {
  pollfd fds[2] = {{acceptor_.listen_fd(), static_cast<short>(paused_ ? 0 : POLLIN), 0}, {stop_fd, POLLIN, 0}};
  const int n = ::poll(fds, 2, paused_ ? kAcceptPauseMs : -1);
  if (n < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll(): {}", std::strerror(errno)));
  // Woken otherwise (a connection, the pause over, a signal): accepting finds out what is there.
  return fds[1].revents == 0;
}

}  // namespace mux
