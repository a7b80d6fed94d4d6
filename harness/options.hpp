#pragma once
// Command-line options of `bench` (a measurement) and `bench serve` (one backend alone).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "core/cpu_set.hpp"
#include "core/net.hpp"
#include "harness/server_shape.hpp"

namespace mux {

inline constexpr int kExitUsage = 2;        // bad input: one line on stderr, nothing left behind
inline constexpr int kExitFailed = 1;       // the run itself failed (the server died, errors)
inline constexpr int kExitInterrupted = 130;

// What `bench`, `bench load` and `bench sweep` share: the load and how it is reported.
struct RunOptions {
  std::string backend{default_backend_name()};  // `bench load`: a label for the target, "external"
  std::string protocol = "echo";
  // http: the response body to verify byte for byte; `bench` sets its own server's, `bench
  // load` takes --expect-body; none: status, framing and body length are checked.
  std::optional<std::string> expect_body;
  std::size_t clients = 100;
  std::size_t message_size = 128;
  std::size_t pipeline = 1;
  double rate = 0;                 // requests/s in total; 0: closed loop
  std::string arrival = "constant";
  std::uint64_t seed = 1;
  double duration_s = 10;
  double warmup_s = 2;
  double timeout_s = 5;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: a free port, chosen by the kernel
  std::size_t loadgen_threads = 0;  // 0: one per core of --client-cpus
  CpuList server_cpus;
  CpuList client_cpus;
  std::string json_path;
  std::string hgrm_path;
  std::string target;              // `bench load`: the server's ADDRESS:PORT (--target, resolved)
  std::string target_name;         // `bench load`: --target as given (a host name, or the address)
  std::size_t idle = 0;
  std::uint64_t churn = 0;
  std::string sources = "auto";    // "auto", or a comma-separated list of local addresses
  double work_us = 0;              // `bench`: simulated application work per request in the server
  std::size_t read_size = kDefaultReadSize;  // `bench`: bytes per receive in the server
  ServerShapeFlags server_shape;   // `bench`: loops, processes, accept design (resolved per backend)
  std::size_t zc_threshold = kDefaultZcThreshold;  // `bench`: io_uring+zc's smallest zero-copy reply
  bool counters = true;            // --counters: syscalls, context switches... per request, both sides
  bool show_syscalls = false;      // --syscalls: the per-syscall breakdown under the table

  std::vector<std::string> backends() const;  // "all" expanded
  bool open_loop() const { return rate > 0; }
};

struct ServeOptions {
  std::string backend{default_backend_name()};
  std::string protocol = "echo";
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int backlog = 4096;
  double work_us = 0;  // simulated application work per request
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
std::optional<RunOptions> parse_run_options(int argc, char** argv, int& exit_code);
std::optional<RunOptions> parse_load_options(int argc, char** argv, int& exit_code);
// "127.0.0.1:8080", "[::1]:8080" -> address; throws UsageError naming the fix.
SocketAddress parse_target(const std::string& text);
// The same, with a host name allowed ("localhost:8080", "server.example:8080"); of several
// addresses, the first a server listens on. Throws UsageError naming the fix.
SocketAddress resolve_target(const std::string& text);
// --host: an address this machine can bind (loopback, 0.0.0.0, ::, or an interface's); throws.
void check_local_host(const std::string& host);
std::optional<ServeOptions> parse_serve_options(int argc, char** argv, int& exit_code);

}  // namespace mux
