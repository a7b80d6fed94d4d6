#include "loadgen/uring_probe.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "core/io_uring_ring.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

constexpr long long kProbeWaitNs = 1'000'000'000;  // a loopback byte arrives in microseconds

// The next completion, or nullopt after kProbeWaitNs.
std::optional<Completion> next_completion(io_uring* ring) {
  __kernel_timespec timeout{.tv_sec = 0, .tv_nsec = kProbeWaitNs - 1};
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe_timeout(ring, &cqe, &timeout) != 0 || cqe == nullptr) return std::nullopt;
  const Completion c{cqe->user_data, cqe->res, cqe->flags};
  io_uring_cqe_seen(ring, cqe);
  return c;
}

// "" when a multishot recv on `ring` delivers a byte into a provided buffer and stays armed;
// otherwise what went wrong.
std::string try_multishot_recv(io_uring* ring) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return fmt::format("socketpair: {}", std::strerror(errno));
  const UniqueFd mine(pair[0]), peer(pair[1]);
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  io_uring_prep_recv_multishot(sqe, mine.get(), nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_submit(ring);
  const char byte = 'x';
  if (::write(peer.get(), &byte, 1) != 1) return fmt::format("write: {}", std::strerror(errno));
  const auto first = next_completion(ring);
  if (!first) return "a multishot recv on a socket pair got nothing within 1 s";
  const bool armed = first->more();
  // Ended by the peer's shutdown (a completion without F_MORE) before its buffers go away.
  if (armed && (::shutdown(peer.get(), SHUT_RDWR) != 0 || !next_completion(ring)))
    return "a multishot recv on a socket pair did not end at the peer's shutdown";
  if (first->res == -EINVAL || (first->res == 1 && !armed)) return "this kernel has no multishot recv (Linux 6.0)";
  if (first->res != 1) return fmt::format("a multishot recv on a socket pair failed: {}", std::strerror(-first->res));
  return {};
}

}  // namespace

std::string no_buffer_ring_reason() {
  return fmt::format("io_uring: this kernel cannot register a provided buffer ring (Linux 5.19); choose {}",
                     kUringLoadInstead);
}

namespace {
std::string probe_uring_load() {
  ProbeRing probe(0, -1, 4);
  if (probe.error != 0) return describe_setup_failure(probe.error, kUringLoadInstead);
  const auto buffers = BufferRing::create(&probe.ring, 4096, 8 * 4096);
  if (!buffers) return no_buffer_ring_reason();
  const std::string problem = try_multishot_recv(&probe.ring);
  return problem.empty() ? problem : fmt::format("io_uring: {}; choose {}", problem, kUringLoadInstead);
}
}  // namespace

// Probed once per process: the kernel's answer does not change, and each load thread that is
// left to choose (LoadThread::make) asks again after bench's own parse did.
std::string uring_load_unavailable_reason() {
  static const std::string reason = probe_uring_load();
  return reason;
}

}  // namespace mux
