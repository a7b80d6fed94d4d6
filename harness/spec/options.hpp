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
#include "harness/spec/server_shape.hpp"
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

// What `bench`, `bench load` and `bench sweep` share: the load and how it is reported.
struct RunOptions {
  std::string backend{default_backend_name()};  // `bench load`: a label for the target, "external"
  // The load, defined once: the CLI binds its flags to these fields and the load threads read
  // them. What only the run knows (the target's address, the source addresses planned from
  // `sources`) measure() fills in. http: `bench` sets expected_body to its own server's body,
  // `bench load` takes --expect-body.
  LoadConfig load;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: a free port, chosen by the kernel
  std::string transport = "tcp";   // "tcp" or "unix" (harness/spec/transport.hpp); `bench load`: from --target
  std::string socket_path;         // `bench`, unix: --socket-path, or set to a private directory's
  CpuList server_cpus;
  // The per-run files asked for, by their format's flag: "--json" -> PATH (empty: not written).
  std::map<std::string, std::string, std::less<>> outputs;
  std::string target;              // `bench load`: the server's ADDRESS:PORT (--target, resolved)
  std::string target_name;         // `bench load`: --target as given (a host name, or the address)
  std::size_t mpi_ranks = 1;          // set under mpirun: each rank a load shard (harness/mpi/mpi_load.hpp)
  std::size_t loadgen_processes = 1;  // --loadgen-processes: the load split over this many processes
  std::string sources = "auto";    // --sources as given: "auto", or local addresses, comma-separated
  std::size_t read_size = kDefaultReadSize;  // `bench`: bytes per receive in the server
  ServerShapeFlags server_shape;   // `bench`: loops, processes, accept design (resolved per backend)
  std::size_t zc_threshold = kDefaultZcThreshold;  // `bench`: io_uring+zc's smallest zero-copy reply
  bool counters = true;            // --counters: syscalls, context switches... per request, both sides
  std::optional<SyscallSampling> counters_sampling;  // --counters=sampled: system calls in slices only
  bool show_syscalls = false;      // --syscalls: the per-syscall breakdown under the table
  // --server-cmd: the server is this command (a template, harness/server/command_server.hpp), not a
  // registry backend; `backend` is then its name (--server-name).
  std::string server_cmd;
  double server_start_timeout_s = 10;  // --server-start-timeout: until a --server-cmd server accepts

  // bench starts a server of its own registry (not --server-cmd, not `bench load`'s target).
  bool own_server() const { return target.empty() && server_cmd.empty(); }

  std::vector<std::string> backends() const;  // "all" expanded
  bool open_loop() const { return load.rate > 0; }
  const std::string& output_path(std::string_view flag) const;  // outputs' path, or empty
};

struct ServeOptions {
  std::string backend{default_backend_name()};
  std::string protocol = "echo";
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string transport = "tcp";  // "tcp" or "unix"
  std::string socket_path;        // unix: --socket-path; empty: one in a private directory
  int backlog = 4096;
  Distribution work_us = 0;  // simulated application work per request, µs: fixed or drawn
  std::size_t read_size = kDefaultReadSize;
  std::size_t zc_threshold = kDefaultZcThreshold;
  CpuList cpus;
  ServerShapeFlags shape;
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
