#pragma once
// Whether --loadgen-io=io_uring can run here, asked of the running kernel (the headers this
// project builds against are older than it: core/io_uring_uapi.hpp): a ring, a provided buffer
// ring (5.19) and multishot recv (6.0), tried on a socket pair.
#include <string>

namespace mux {

// What a failure's message offers instead.
inline constexpr const char* kUringLoadInstead = "--loadgen-io=epoll";

// "" when the io_uring load thread can run here; otherwise one line: what is missing, and the fix.
std::string uring_load_unavailable_reason();
// The line for a kernel without provided buffer rings.
std::string no_buffer_ring_reason();

}  // namespace mux
