#pragma once
// What main() needs to know of the wait benchmarks (wait_benchmarks.cpp).

namespace mux::micro {

inline constexpr int kMaxWatchedFds = 10000;  // the largest BM_Wait*/N
// Fds kept free beyond the watched ones: the epoll fd, the ring, output files.
inline constexpr int kSpareFds = 64;

// Raises RLIMIT_NOFILE as far as it may go toward what kMaxWatchedFds needs.
void raise_fd_limit();
// Closes the socketpairs and the mechanism state of the last wait benchmark.
void release_wait_state();

}  // namespace mux::micro
