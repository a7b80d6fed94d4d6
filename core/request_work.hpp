#pragma once
// Simulated application work: a server codec that answers exactly like the one it wraps, then
// keeps the CPU busy for a fixed time per request answered. It lets a comparison of I/O models
// include requests that cost more than their I/O (where thread-per-client and event loops part
// ways), and it tells a saturated load generator from a saturated server: slow the server down
// on purpose and see whose numbers move.
#include <cstdint>

#include "core/protocol.hpp"

namespace mux {

// `inner` itself when work_ns is 0; otherwise codecs that burn work_ns per complete request.
ServerCodecFactory with_request_work(ServerCodecFactory inner, std::uint64_t work_ns);

}  // namespace mux
