#pragma once
// Simulated application work: a server codec that answers exactly like the one it wraps, then
// keeps the CPU busy for a time per request answered. It lets a comparison of I/O models
// include requests that cost more than their I/O (where thread-per-client and event loops part
// ways), and it tells a saturated load generator from a saturated server: slow the server down
// on purpose and see whose numbers move.
//
// The time is fixed (--work-us=N) or drawn per request (--work-us=bimodal:0.9:0:2000...). A
// drawn time is a function of the request's own bytes, never sent separately: the server
// hashes the first bytes of the payload into u in [0, 1) and takes the distribution's
// quantile(u); the load generator, which built the payload, computes the same and so knows
// which requests were long without any change to the protocol (a plain echo server is still a
// valid peer: it does no work, and the classes then differ by nothing).
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/distribution.hpp"
#include "core/protocol.hpp"

namespace mux {

// Payload bytes a request's work is drawn from: the first 8 (all of a shorter payload).
inline constexpr std::size_t kWorkKeyBytes = 8;
// Largest work per request, µs: --work-us's range, and the clamp of exp's unbounded draws.
inline constexpr double kMaxWorkUs = 1e6;

// The work of one request, in ns: quantile(u) of `work_us`, clamped to [0, kMaxWorkUs] and
// rounded, where u is a hash of `key`, the first min(8, size) bytes of the request's payload.
// The one definition both sides use.
std::uint64_t request_work_ns(const Distribution& work_us, std::span<const char> key);
// The same rounding of a value in µs: what the split between short and long requests is
// compared in (requests at or below work_ns(median) are "short").
std::uint64_t work_ns(double us);

// Busy-waits on the monotonic clock (no syscall, no sleep: the core stays busy, as with real
// work) until `ns` nanoseconds have passed.
void burn_cpu_ns(std::uint64_t ns);

// `inner` itself when work_ns is 0; otherwise codecs that burn work_ns per complete request.
ServerCodecFactory with_request_work(ServerCodecFactory inner, std::uint64_t work_ns);
// The server codecs of `protocol` with `work_us` per request: fixed, any protocol that counts
// requests; drawn, echo only (the protocol whose server sees each request's payload). nullptr
// when the protocol cannot do it.
ServerCodecFactory with_request_work(std::string_view protocol, const Distribution& work_us);
// Whether with_request_work(protocol, work_us) can do it: the CLI's check.
bool supports_request_work(std::string_view protocol, const Distribution& work_us);

}  // namespace mux
