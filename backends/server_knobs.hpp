#pragma once
// The server's tuning knobs that the backends read (ServeContext::knobs), one row each. From a
// row come its member below and, in harness/spec/server_spec.cpp, everything else about it:
// its flag on `bench`, `bench capacity` (so `bench sweep`'s runs) and `bench serve`, its place
// on the server child's command line, its refusal with --server-cmd, and its key in the result
// JSON's config (the flag's name, '-' written '_'; null for a server that is not bench's own).
// A new knob is a row here and the backend code that reads it.
//
// X(TYPE, MEMBER, DEFAULT, FLAG, CHECK, HELP). CHECK is a CLI11 validator expression: it is
// expanded only where the flags are bound (harness/spec/server_spec.cpp); backends/ never
// expands it, and knows nothing of CLI11.
#include <cstddef>

namespace mux {

// Bytes a backend asks the kernel for per receive (recv(2) size, io_uring buffer size). One
// value for every backend, so a large message costs each of them the same number of reads or
// completions; `--read-size` changes it. The bounds: below 512 B a read costs more in system
// calls than it moves; 4 MiB (four of the largest messages) keeps io_uring's buffer ring, whose
// memory is a fixed budget divided into buffers of this size, at eight buffers or more.
inline constexpr std::size_t kDefaultReadSize = 64 * 1024;
inline constexpr std::size_t kMinReadSize = 512;
inline constexpr std::size_t kMaxReadSize = 4 * 1024 * 1024;

// io_uring+zc: replies of at least this many bytes are sent zero-copy (`--zc-threshold`).
// Below ~4-16 KiB pinning pages and the extra notification cost more than the copy saved
// (liburing#643, netty#16086).
inline constexpr std::size_t kDefaultZcThreshold = 16 * 1024;

// clang-format off
#define MUX_SERVER_KNOBS(X)                                                                                      \
  X(std::size_t, read_size, kDefaultReadSize, "--read-size", CLI::Range(kMinReadSize, kMaxReadSize),             \
    "bytes the server asks for per receive (recv size; io_uring's buffer size), the same in every backend so a " \
    "large message costs each the same number of reads")                                                         \
  X(std::size_t, zc_threshold, kDefaultZcThreshold, "--zc-threshold",                                            \
    CLI::Range(std::size_t{1}, kMaxMessageSize * 4),                                                             \
    "io_uring+zc: replies of at least this many bytes are sent zero-copy (SEND_ZC), smaller ones copied")       \
  X(std::size_t, busy_poll_us, 0, "--busy-poll", CLI::Range(std::size_t{0}, std::size_t{1'000'000}),              \
    "µs a receive busy-polls the device queue before it sleeps (SO_BUSY_POLL on the listeners, which accepted "   \
    "sockets inherit); 0: off. Above net.core.busy_read it needs CAP_NET_ADMIN. It polls a NAPI queue: loopback " \
    "and Unix sockets have none, so there it changes nothing")
// clang-format on

struct ServerKnobs {
#define MUX_SERVER_KNOB_MEMBER(type, member, default_value, ...) type member = default_value;
  MUX_SERVER_KNOBS(MUX_SERVER_KNOB_MEMBER)
#undef MUX_SERVER_KNOB_MEMBER
  bool operator==(const ServerKnobs&) const = default;
};

}  // namespace mux
