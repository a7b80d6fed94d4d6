#pragma once
// Process limits a run depends on, read (and raised where the kernel allows) before it starts.
#include <cstdint>

namespace mux {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
std::uint64_t raise_fd_limit();
std::uint64_t fd_limit();
std::uint64_t open_fd_count();  // entries in /proc/self/fd

}  // namespace mux
