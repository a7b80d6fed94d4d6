#include "core/acceptor.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/net.hpp"

namespace mux {

namespace {
UniqueFd open_spare() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }
}  // namespace

Acceptor::Acceptor(int listen_fd) : listen_fd_(listen_fd), tcp_(is_tcp_socket(listen_fd)), spare_(open_spare()) {}

Acceptor::Result Acceptor::accept_one() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (tcp_) set_nodelay(fd);
      return {Outcome::accepted, fd};
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {Outcome::empty, -1};
    return {on_error(errno), -1};
  }
}

void Acceptor::restore_spare() {
  if (!spare_) spare_ = open_spare();
}

Acceptor::Outcome Acceptor::on_error(int err) {
  if (err != EMFILE && err != ENFILE) return Outcome::failed;
  if (!spare_) return Outcome::failed;  // could not re-open the spare last time: back off
  spare_.reset();
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    ++dropped_;
  }
  spare_ = open_spare();
  return fd >= 0 ? Outcome::dropped : Outcome::failed;
}

}  // namespace mux
