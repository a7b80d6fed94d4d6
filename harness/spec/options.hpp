#pragma once
// Command-line options of `bench` (a measurement) and `bench serve` (one backend alone).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"
#include "core/cpu_set.hpp"
#include "core/net.hpp"
#include "harness/spec/server_spec.hpp"
#include "harness/kernel/syscall_sampling.hpp"
#include "harness/system/exit_status.hpp"
#include "loadgen/load_config.hpp"

namespace CLI {
class App;
}

namespace mux {

// A file a run writes besides the table (--json PATH, --hgrm PATH): its flag, whose value is the
// path, and the flag's help. The formats are listed with their writers in
// harness/results/run_reporters.cpp; the commands hand their flags to the parsers below.
struct OutputFlag {
  std::string_view flag;  // empty: none (the table, on stdout)
  std::string_view help;
};

// What `bench`, `bench load` and `bench sweep` share: the server, the load and how it is reported.
struct RunOptions {
  // The server, defined once (harness/spec/server_spec.hpp): `bench` binds its flags, and each
  // run's server is started from it. `bench load`: server.backend is the target's label
  // (--label, "external"), server.work_us the work it was told (--work-us).
  ServerSpec server;
  // The load, defined once: the CLI binds its flags to these fields and the load threads read
  // them. What only the run knows (the target's address, the source addresses planned from
  // `sources`) measure() fills in. http: `bench` sets expected_body to its own server's body,
  // `bench load` takes --expect-body.
  LoadConfig load;
  // The per-run files asked for, by their format's flag: "--json" -> PATH (empty: not written).
  std::map<std::string, std::string, std::less<>> outputs;
  std::string target;              // `bench load`: the server's ADDRESS:PORT (--target, resolved)
  std::string target_name;         // `bench load`: --target as given (a host name, or the address)
  std::size_t mpi_ranks = 1;          // set under mpirun: each rank a load shard (harness/mpi/mpi_load.hpp)
  std::size_t loadgen_processes = 1;  // --loadgen-processes: the load split over this many processes
  std::string sources = "auto";    // --sources as given: "auto", or local addresses, comma-separated
  bool counters = true;            // --counters: syscalls, context switches... per request, both sides
  // --counters=sampled (the default): system calls in slices only; empty: exact (--counters=on)
  std::optional<SyscallSampling> counters_sampling = SyscallSampling{};
  bool show_syscalls = false;      // --syscalls: the per-syscall breakdown under the table

  // bench starts a server of its own registry (not --server-cmd, not `bench load`'s target).
  bool own_server() const { return target.empty() && server.command.empty(); }

  std::vector<std::string> backends() const;  // "all" expanded
  bool open_loop() const { return load.rate > 0; }
  const std::string& output_path(std::string_view flag) const;  // outputs' path, or empty
};

// `bench serve`: the server, and what only bench gives its server child.
struct ServeOptions {
  ServerSpec server;
  int ready_fd = -1;    // set by `bench`: report the address, CPU time and final counters on this pipe
  int control_fd = -1;  // set by `bench`: requests ("cpu") arrive on this pipe
  bool kernel_counters = false;  // set by `bench`: count what this process costs the kernel
  std::string syscall_counter;   // set by `bench`: its eBPF syscall counter's fds and slot (SyscallCounterHandoff)
};

// Parse argv; on --help print it and return std::nullopt with exit_code 0; on bad input print
// one line and return std::nullopt with exit_code 2.
// `outputs` are the per-run output files' flags (harness/results/run_reporters.hpp's
// run_output_flags()), bound to RunOptions::outputs.
// `command` names the command in errors and help ("bench", "bench capacity"); `add_flags` adds
// a command's own flags to the shared ones, `check` checks them once all are parsed (throws UsageError).
std::optional<RunOptions> parse_run_options(int argc, char** argv, int& exit_code, std::span<const OutputFlag> outputs,
                                            const std::string& command = "bench",
                                            const std::function<void(CLI::App&)>& add_flags = {},
                                            const std::function<void(const RunOptions&)>& check = {});
std::optional<RunOptions> parse_load_options(int argc, char** argv, int& exit_code, std::span<const OutputFlag> outputs);
// "127.0.0.1:8080", "[::1]:8080", "unix:/tmp/x.sock" -> address; throws UsageError naming the fix.
SocketAddress parse_target(const std::string& text);
// The same, with a host name allowed ("localhost:8080", "server.example:8080"); of several
// addresses, the first a server listens on. Throws UsageError naming the fix.
SocketAddress resolve_target(const std::string& text);
// --host: an address this machine can bind (loopback, 0.0.0.0, ::, or an interface's); throws.
void check_local_host(const std::string& host);
std::optional<ServeOptions> parse_serve_options(int argc, char** argv, int& exit_code);

}  // namespace mux
