#pragma once
// What measure() needs of the server it measures, whoever started it: ServerProcess (a
// registry backend: `bench serve` exec'd from this binary) and CommandServer (any server a
// command line starts, `--server-cmd`). The run's own bookkeeping (final counters, loops,
// stopping) stays with the concrete class.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/net.hpp"
#include "harness/kernel/kernel_counters.hpp"

namespace mux {

class MeasuredServer {
 public:
  virtual ~MeasuredServer() = default;
  virtual const SocketAddress& address() const = 0;
  // Still running? Otherwise exit_description() says how it ended.
  virtual bool alive() = 0;
  virtual std::string exit_description() const = 0;
  // Why it no longer answers bench (it did not within --timeout + grace: stopped or frozen, or
  // a stop signal cut the wait short); empty while it does. Such a run is never complete.
  virtual std::string unresponsive_reason() const = 0;
  // User + system CPU time of every process and thread of the server so far, in microseconds.
  virtual double cpu_time_us() = 0;
  // What the server has cost the kernel so far (null where it cannot be read).
  virtual std::optional<KernelSnapshot> kernel_snapshot() = 0;
  // Has it accepted `connections` connections? The clock starts once it has (the kernel
  // completes a connect before the server accepts it).
  virtual bool has_accepted(std::uint64_t connections) = 0;
  // Its processes, first the one started (empty once gone).
  virtual std::vector<pid_t> processes() const = 0;
  // Its resident set over every process, bytes (0 once gone).
  virtual std::uint64_t resident_bytes() const = 0;
  // What its kernel counters include and how they are attributed (results.kernel_counters.server.attribution).
  virtual std::string kernel_attribution() const = 0;
  // Its system calls so far, read by bench from a slot of bench's own eBPF counter (what
  // --counters=sampled reads at every slice edge); null where it is not counted there.
  virtual std::optional<BpfSyscallCounter::Counts> syscall_counts() const { return std::nullopt; }
};

}  // namespace mux
