// Whether each io_uring variant can run here, asked of the running kernel (the headers we build
// against are older than it: see core/io_uring_uapi.hpp). Each probe sets up a small ring
// of its own and returns "" or one line: what is missing, and the fix.
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "backends/io_uring.hpp"
#include "core/cpu_set.hpp"
#include "core/io_uring_ring.hpp"
#include "core/io_uring_uapi.hpp"

namespace mux {

std::string bundle_support(unsigned setup_features) {
  if (setup_features & IORING_FEAT_RECVSEND_BUNDLE) return {};
  return "io_uring+bundle: this kernel has no recv bundles (IORING_FEAT_RECVSEND_BUNDLE, Linux 6.10); run a newer "
         "kernel or choose --backend=io_uring";
}

std::string probe_io_uring() {
  const ProbeRing probe(0);
  return probe.error != 0 ? describe_setup_failure(probe.error) : std::string{};
}

std::string probe_io_uring_fixed() {
  ProbeRing probe(0);
  if (probe.error != 0) return describe_setup_failure(probe.error);
  int r = io_uring_register_ring_fd(&probe.ring);
  if (r < 0)
    return fmt::format("io_uring+fixed: io_uring_register_ring_fd: {} (needs Linux 5.18); choose --backend=io_uring",
                       std::strerror(-r));
  if ((r = io_uring_register_files_sparse(&probe.ring, 16)) < 0)
    return fmt::format("io_uring+fixed: io_uring_register_files_sparse: {} (needs Linux 5.19); choose "
                       "--backend=io_uring",
                       std::strerror(-r));
  for (const int op : {IORING_OP_ACCEPT, IORING_OP_CLOSE, IORING_OP_SHUTDOWN})
    if (!probe.opcode_supported(op))
      return fmt::format("io_uring+fixed: this kernel lacks io_uring opcode {} (accept, close and shutdown of direct "
                         "descriptors need Linux 5.19); choose --backend=io_uring",
                         op);
  return {};
}

std::string probe_io_uring_sqpoll() {
  const int cpu = sqpoll_cpu(allowed_cpus(), ::sched_getcpu());
  // First a plain ring: where io_uring itself is refused, that is the reason to give.
  if (const ProbeRing plain(0); plain.error != 0) return describe_setup_failure(plain.error);
  const ProbeRing probe(IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF, cpu);
  if (probe.error == EPERM)
    return "io_uring+sqpoll: SQPOLL is not permitted here (kernels before 5.11 require CAP_SYS_ADMIN); run as root "
           "or choose --backend=io_uring";
  if (probe.error != 0)
    return fmt::format("io_uring+sqpoll: io_uring_setup with SQPOLL pinned to CPU {}: {}; choose --backend=io_uring",
                       cpu, std::strerror(probe.error));
  return {};
}

std::string probe_io_uring_zc() {
  ProbeRing probe(0);
  if (probe.error != 0) return describe_setup_failure(probe.error);
  if (!probe.opcode_supported(IORING_OP_SEND_ZC))
    return "io_uring+zc: this kernel has no IORING_OP_SEND_ZC (Linux 6.0); choose --backend=io_uring";
  return {};
}

std::string probe_io_uring_bundle() {
  const ProbeRing probe(0);
  if (probe.error != 0) return describe_setup_failure(probe.error);
  return bundle_support(probe.params.features);
}

std::string probe_io_uring_fixed_bundle() {
  std::string why = probe_io_uring_fixed();
  return why.empty() ? probe_io_uring_bundle() : why;
}

}  // namespace mux
