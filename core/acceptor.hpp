#pragma once
// accept() with the two traps handled for every backend:
//  - EMFILE/ENFILE: the listening socket stays readable, so a naive loop spins at 100% CPU.
//    As libuv does, keep one spare fd; when out of fds, close it, accept and drop the pending
//    connection (the client sees a reset, not a hang), then take the spare back.
//  - EINTR and ECONNABORTED are retried; EAGAIN means the backlog is empty.
#include <cstdint>

#include "core/unique_fd.hpp"

namespace mux {

class Acceptor {
 public:
  explicit Acceptor(int listen_fd);

  enum class Outcome { accepted, empty, dropped, failed };
  struct Result {
    Outcome outcome;
    int fd;  // the new connection (non-blocking; TCP_NODELAY over TCP) when outcome == accepted
  };
  Result accept_one();
  // Handles an accept error reported by someone else (io_uring's accept completion).
  Outcome on_error(int err);
  // Takes the spare back if it was lost: several loops in one process share its fd table, and
  // between one acceptor's drop and its re-open another's accept can take the freed fd. Call
  // when a connection closes (an fd was freed); costs a test while the spare is held.
  void restore_spare();

  int listen_fd() const { return listen_fd_; }
  // The listener is TCP (IPv4 or IPv6), so its connections take TCP options; false for a Unix
  // socket, and for no listener (-1: connections come from elsewhere, already set up).
  bool tcp() const { return tcp_; }
  std::uint64_t dropped() const { return dropped_; }

 private:
  int listen_fd_;
  bool tcp_;
  UniqueFd spare_;
  std::uint64_t dropped_ = 0;
};

}  // namespace mux
