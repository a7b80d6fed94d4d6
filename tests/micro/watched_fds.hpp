#pragma once
// The fds the wait benchmarks watch (tests/micro/wait_benchmarks.cpp): N socketpairs, the last
// one always ready, placed densely in the fd table.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/proc_files.hpp"

namespace mux::micro {

inline std::string errno_text(const char* what, int err = errno) {
  return fmt::format("{}: {}", what, std::strerror(err));
}

inline int highest_open_fd() {
  const std::vector<int> fds = numeric_entries("/proc/self/fd");
  return fds.empty() ? 2 : std::max(2, fds.back());
}

inline std::uint64_t read_nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::uint64_t value = 0;
  in >> value;
  return value;
}

// Makes a socketpair with its ends at fds r and w, which must be free; on failure nothing is
// left open. socketpair() takes the lowest free fds, which may be r or w themselves.
inline void new_pair_at(int r, int w) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(errno_text("socketpair"));
  int a = sv[0];  // the ends are alike: either may become the read end
  int b = sv[1];
  if (b == r || a == w) std::swap(a, b);  // now a is not at w, nor b at r
  if (a != r) {
    if (::dup3(a, r, O_CLOEXEC) < 0) {
      const std::string error = errno_text("dup3");
      ::close(a);
      ::close(b);
      throw std::runtime_error(error);
    }
    ::close(a);
  }
  if (b != w) {
    if (::dup3(b, w, O_CLOEXEC) < 0) {
      const std::string error = errno_text("dup3");
      ::close(r);
      ::close(b);
      throw std::runtime_error(error);
    }
    ::close(b);
  }
}

// The watched fds of one setup: n AF_UNIX socketpairs (socketpairs, as libevent's bench.c
// uses), with their read ends numbered densely, [first, first + n), and the last one ready.
// Dense, so that select's nfds is n + first as for a server with n connections, not the 2n
// that socketpair()'s interleaved ends would give.
//
// The write ends of the n-1 idle pairs are not kept in the fd table: they are passed as
// SCM_RIGHTS messages into a holder socket, which keeps them open (a closed peer would make
// the read end readable with EOF) without using fds. So 10,000 watched fds need about 10,500
// fds, not 20,000, and fit the usual `ulimit -n` of 20,000 (the hard limit cannot be raised
// without CAP_SYS_RESOURCE, which containers usually lack).
class WatchedFds {
 public:
  static constexpr int kBatch = 250;  // write ends per SCM_RIGHTS message (the kernel's cap: 253)

  explicit WatchedFds(int n) {
    if (n < 1) throw std::runtime_error("no fds to watch");
    const std::uint64_t needed = static_cast<std::uint64_t>(highest_open_fd() + n + 2 * kBatch + kSpareFds);
    if (needed > fd_limit()) throw std::runtime_error(shortfall(n, needed));
    int holder[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, holder) != 0)
      throw std::runtime_error(errno_text("socketpair"));
    holder_[0] = holder[0];
    holder_[1] = holder[1];
    first_ = highest_open_fd() + 1;  // everything from here up is free
    try {
      // The idle pairs, kBatch at a time: read ends at [base, base + k), write ends right
      // after them, [base + k, base + 2k), then sent away, which frees the room for the next batch.
      while (count_ < n - 1) {
        const int base = first_ + count_;
        const int k = std::min(kBatch, n - 1 - count_);
        for (int j = 0; j < k; ++j) {
          try {
            new_pair_at(base + j, base + k + j);
          } catch (...) {
            close_range(base + k, base + k + j);  // this batch's write ends, not yet sent
            throw;
          }
          ++count_;
        }
        const std::string error = send_away(base + k, k);
        close_range(base + k, base + 2 * k);
        if (!error.empty()) throw std::runtime_error(error);
      }
      // The ready pair: read end last, write end right after it, one byte pending for good.
      new_pair_at(first_ + count_, first_ + count_ + 1);
      ++count_;
      ready_writer_ = first_ + count_;
      if (::write(ready_writer_, "x", 1) != 1) throw std::runtime_error(errno_text("write"));
    } catch (...) {
      release();
      throw;
    }
  }
  ~WatchedFds() { release(); }
  WatchedFds(const WatchedFds&) = delete;
  WatchedFds& operator=(const WatchedFds&) = delete;

  int count() const { return count_; }
  int read_fd(int i) const { return first_ + i; }
  int ready_fd() const { return first_ + count_ - 1; }

 private:
  static std::uint64_t fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<std::uint64_t>(rl.rlim_cur);
  }

  static std::string shortfall(int n, std::uint64_t needed) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    return fmt::format("{} watched fds need about {} fds, but RLIMIT_NOFILE is {} (hard {}, fs.nr_open {}): "
                       "raise `ulimit -n` (bench_micro raises the soft limit to the hard one itself, "
                       "and the hard one too when it has CAP_SYS_RESOURCE)",
                       n, needed, static_cast<std::uint64_t>(rl.rlim_cur),
                       static_cast<std::uint64_t>(rl.rlim_max), read_nr_open());
  }

  static void close_range(int from, int to) {
    for (int fd = from; fd < to; ++fd) ::close(fd);
  }

  // Passes fds [from, from + k) into the holder; "" or what failed.
  std::string send_away(int from, int k) {
    std::vector<int> fds(static_cast<std::size_t>(k));
    for (int j = 0; j < k; ++j) fds[static_cast<std::size_t>(j)] = from + j;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    char byte = 0;
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    if (::sendmsg(holder_[0], &msg, MSG_NOSIGNAL) != 1) return errno_text("sendmsg(SCM_RIGHTS)");
    return {};
  }

  void release() {
    close_range(first_, first_ + count_);
    if (ready_writer_ >= 0) ::close(ready_writer_);
    // Closing the holder drops the write ends still queued in it.
    ::close(holder_[0]);
    ::close(holder_[1]);
    count_ = 0;
    ready_writer_ = holder_[0] = holder_[1] = -1;
  }

  int holder_[2] = {-1, -1};
  int first_ = 0;
  int count_ = 0;  // pairs placed so far
  int ready_writer_ = -1;
};

}  // namespace mux::micro
