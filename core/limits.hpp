#pragma once
// Process limits a run depends on, read (and raised where the kernel allows) before it starts.
#include <cstdint>

namespace mux {

// Raises RLIMIT_NOFILE as far as allowed: the soft limit to the hard one, and, where the
// process may (root), the hard limit too, up to fs.nr_open. Returns the soft limit in force.
std::uint64_t raise_fd_limit();
std::uint64_t fd_limit();
std::uint64_t resident_bytes();  // this process's resident set
double process_cpu_us();         // user + system CPU of this process, all threads, µs (getrusage)

}  // namespace mux
