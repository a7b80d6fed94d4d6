#include "harness/options.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backends/backend.hpp"
#include "core/echo_protocol.hpp"
#include "core/http_protocol.hpp"
#include "core/net.hpp"
#include "core/protocol.hpp"
#include "harness/cli_checks.hpp"
#include "harness/kernel_counters.hpp"

namespace mux {
namespace {

std::vector<std::string> backend_names(bool with_all) {
  std::vector<std::string> names;
  for (const auto& entry : backend_registry()) names.emplace_back(entry.name);
  if (with_all) names.emplace_back("all");
  return names;
}

// CLI11 errors become the project's one-line form: the problem, the fix, exit status 2.
template <typename Options>
std::optional<Options> finish_parse(CLI::App& app, int argc, char** argv, Options& options, int& exit_code,
                                    const std::function<void()>& after = {}) {
  try {
    app.parse(argc, argv);
    if (after) after();
    exit_code = 0;
    return options;
  } catch (const CLI::CallForHelp& e) {
    exit_code = app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fputs(fmt::format("{}: error: {}; see `{} --help`\n", app.get_name(), e.what(), app.get_name()).c_str(),
               stderr);
    exit_code = kExitUsage;
  } catch (const UsageError& e) {
    std::fputs(fmt::format("{}: error: {}\n", app.get_name(), e.what()).c_str(), stderr);
    exit_code = kExitUsage;
  }
  return std::nullopt;
}

CpuList cpus_or(const std::string& text, const CpuList& fallback) {
  return text.empty() ? fallback : parse_cpu_list(text);
}

}  // namespace

std::vector<std::string> RunOptions::backends() const {
  return backend == "all" ? backends_in_all() : std::vector<std::string>{backend};
}

namespace {

constexpr const char* kWorkHelp =
    "microseconds of CPU the server burns per request answered: simulated application work (a busy-wait on its "
    "core). Compares I/O models when requests cost more than their I/O, and tells a saturated load generator "
    "from a saturated server";

constexpr const char* kReadSizeHelp =
    "bytes the server asks for per receive (recv size; io_uring's buffer size), the same in every backend so a "
    "large message costs each the same number of reads";

void add_read_size_flag(CLI::App& app, std::size_t& read_size) {
  app.add_option("--read-size", read_size, kReadSizeHelp)
      ->check(CLI::Range(kMinReadSize, kMaxReadSize))->capture_default_str();
}

void add_zc_threshold_flag(CLI::App& app, std::size_t& zc_threshold) {
  app.add_option("--zc-threshold", zc_threshold,
                 "io_uring+zc: replies of at least this many bytes are sent zero-copy (SEND_ZC), smaller ones copied")
      ->check(CLI::Range(std::size_t{1}, kMaxMessageSize * 4))->capture_default_str();
}

// The load and output flags, shared by `bench` and `bench load`.
struct LoadFlags {
  std::string client_cpus;
};

void add_load_flags(CLI::App& app, RunOptions& o, LoadFlags& f) {
  app.add_option("--protocol", o.protocol, protocol_help())->check(CLI::IsMember(protocol_names()))->capture_default_str();
  app.add_option("--clients", o.clients, "concurrent connections")->check(CLI::Range(1, 10'000'000))->capture_default_str();
  app.add_option("--message-size", o.message_size, "echo and raw: payload bytes per message (echo adds a 4-byte length header)")
      ->check(CLI::Range(std::size_t{1}, kMaxMessageSize))->capture_default_str();
  app.add_option("--pipeline", o.pipeline, "requests in flight per connection")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--rate", o.rate, "open loop: requests per second in total, sent on schedule whether or not replies "
                                   "have come back; latency is measured from when each request was due. 0: closed loop")
      ->check(FiniteRange(0.0, 1e9))->capture_default_str();
  app.add_option("--arrival", o.arrival, "open-loop schedule: evenly spaced, or Poisson arrivals")
      ->check(CLI::IsMember({"constant", "poisson"}))->capture_default_str();
  app.add_option("--seed", o.seed, "seed for Poisson arrivals")->capture_default_str();
  app.add_option("--idle", o.idle, "extra connections held open and silent beside the clients (Brecht et al.'s "
                                   "experiment: select and poll pay for every watched fd)")
      ->check(CLI::Range(0, 10'000'000))->capture_default_str();
  app.add_option("--churn", o.churn, "close each connection after this many requests and open a new one "
                                     "(measures connect + accept); 0: keep connections")
      ->check(CLI::Range(0, 1'000'000'000))->capture_default_str();
  app.add_option("--sources", o.sources, "local addresses to connect from, comma-separated; auto: 127.0.0.1, "
                                         "then 127.0.0.2... when one address runs out of ports")
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds measured")->check(FiniteRange(0.01, 86400.0))->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds of load before measuring (discarded)")->check(FiniteRange(0.0, 3600.0))->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "seconds a request may stay unanswered before it counts as an error")
      ->check(FiniteRange(0.01, 3600.0))->capture_default_str();
  app.add_option("--loadgen-threads", o.loadgen_threads, "load generator threads (default: one per client CPU)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--client-cpus", f.client_cpus, "cores for the load generator (default: second half)");
  app.add_option("--json", o.json_path, "also write the result as JSON to this file (written atomically; with "
                                        "--backend=all, {backend} in the name is replaced, or .BACKEND is inserted)");
  app.add_option("--hgrm", o.hgrm_path, "also write the latency distribution in HdrHistogram's .hgrm format (ms)");
  app.add_option_function<std::string>("--counters", [&o](const std::string& v) { o.counters = v == "on"; },
                                       "count what each request costs the kernel on both sides (syscalls, context "
                                       "switches, page faults... with perf_event_open and getrusage) [default: on]")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_flag("--syscalls", o.show_syscalls, "print each side's system calls per request, one by one, under the table");
}

// Simulated work is per request: a protocol whose server cannot count requests cannot do it.
void check_work_protocol(double work_us, const std::string& protocol) {
  if (work_us > 0 && !protocol_counts_requests(protocol))
    throw UsageError(fmt::format("--work-us needs a protocol whose server sees where requests end; --protocol={} "
                                 "has no framing: use echo or http",
                                 protocol));
}

void finish_load_flags(RunOptions& o, const LoadFlags& f, const CpuList& default_client_cpus) {
  o.client_cpus = f.client_cpus.empty() ? default_client_cpus : parse_cpu_list(f.client_cpus);
  if (o.loadgen_threads == 0) o.loadgen_threads = o.client_cpus.size();
}

}  // namespace

std::optional<RunOptions> parse_run_options(int argc, char** argv, int& exit_code) {
  RunOptions o;
  CLI::App app{"muxbench: measure one Linux I/O model serving clients over loopback.\n"
               "The server backend runs in its own pinned process; the load generator on the other cores.",
               "bench"};
  app.footer("Subcommands: `bench serve --help` runs one backend alone; `bench load --help` drives a running server.\n"
             "`bench --list-backends [--json]` lists the backends, their variants and whether each runs here.");
  LoadFlags flags;
  std::string server_cpus;
  app.add_option("--backend", o.backend,
                 "I/O model of the server; all: every backend but the opt-in ones, each in turn (a backend that "
                 "cannot run here or with these --server-* flags is skipped, saying why)")
      ->check(CLI::IsMember(backend_names(true)))->capture_default_str();
  add_load_flags(app, o, flags);
  app.add_option("--host", o.host,
                 "address the server binds and the clients connect to; 0.0.0.0 or :: bind every local address, and "
                 "the clients then connect to 127.0.0.1 or ::1")
      ->capture_default_str();
  app.add_option("--port", o.port, "server port; 0 picks a free one")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--server-cpus", server_cpus, "cores for the server process, e.g. 0 or 0-1 (default: first half)");
  app.add_option("--work-us", o.work_us, kWorkHelp)->check(FiniteRange(0.0, 1e6))->capture_default_str();
  add_read_size_flag(app, o.read_size);
  add_server_shape_flags(app, o.server_shape);
  add_zc_threshold_flag(app, o.zc_threshold);
  return finish_parse(app, argc, argv, o, exit_code, [&] {
    const CpuSplit split = default_cpu_split();
    o.server_cpus = cpus_or(server_cpus, split.server);
    finish_load_flags(o, flags, split.client);
    check_work_protocol(o.work_us, o.protocol);
    if (o.protocol == "http") o.expect_body = std::string(kHttpBody);  // our own server's: verified byte for byte
    check_local_host(o.host);
  });
}

std::optional<RunOptions> parse_load_options(int argc, char** argv, int& exit_code) {
  RunOptions o;
  o.backend = "external";
  CLI::App app{"Drive a server that is already running (`bench serve`, nginx, ...) with the load generator.",
               "bench load"};
  LoadFlags flags;
  app.add_option("--target", o.target,
                 "HOST:PORT of the server: an address or a host name, e.g. 127.0.0.1:8080, [::1]:8080, "
                 "server.example:8080")
      ->required();
  app.add_option("--label", o.backend, "name of the server in the table and the JSON")->capture_default_str();
  add_load_flags(app, o, flags);
  std::string expect_body;
  auto* expect_body_flag = app.add_option("--expect-body", expect_body, "http: the response body every reply must "
                                          "carry, compared byte for byte (default: any body, its length checked)");
  return finish_parse(app, argc - 1, argv + 1, o, exit_code, [&] {
    if (expect_body_flag->count() > 0) {
      if (o.protocol != "http")
        throw UsageError(fmt::format("--expect-body applies to --protocol=http only, not --protocol={}", o.protocol));
      o.expect_body = expect_body;
    }
    o.target_name = o.target;
    o.target = resolve_target(o.target).to_string();
    finish_load_flags(o, flags, allowed_cpus());
  });
}

namespace {

std::pair<std::string, std::uint16_t> split_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size())
    throw UsageError(fmt::format("--target={} has no port; write HOST:PORT, e.g. 127.0.0.1:8080", text));
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535)
    throw UsageError(fmt::format("--target={}: the port must be 1..65535", text));
  return {text.substr(0, colon), static_cast<std::uint16_t>(port)};
}

}  // namespace

SocketAddress parse_target(const std::string& text) {
  const auto [host, port] = split_host_port(text);
  return SocketAddress::parse(host, port);
}

SocketAddress resolve_target(const std::string& text) {
  const auto [host, port] = split_host_port(text);
  std::vector<SocketAddress> candidates;
  try {
    candidates = SocketAddress::resolve(host, port);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--target={}: {}", text, e.what()));
  }
  if (candidates.size() == 1) return candidates.front();
  // A name with several addresses (localhost: 127.0.0.1 and ::1): the first one a server
  // listens on, as a browser would; none: the first, whose connect error the run reports.
  const SocketAddress* listening = first_accepting(candidates, std::chrono::milliseconds(1000));
  return listening != nullptr ? *listening : candidates.front();
}

void check_local_host(const std::string& host) {
  if (!SocketAddress::parse(host, 0).is_local())
    throw UsageError(fmt::format("--host={} is not an address of this machine, so the server cannot bind it; use "
                                 "127.0.0.1 (the default), ::1, 0.0.0.0, :: or an address of one of its interfaces",
                                 host));
}

std::optional<ServeOptions> parse_serve_options(int argc, char** argv, int& exit_code) {
  ServeOptions o;
  CLI::App app{"Run one server backend alone until SIGINT or SIGTERM.", "bench serve"};
  std::string cpus;
  app.add_option("--backend", o.backend, "I/O model")->check(CLI::IsMember(backend_names(false)))->capture_default_str();
  app.add_option("--protocol", o.protocol, protocol_help())->check(CLI::IsMember(protocol_names()))->capture_default_str();
  app.add_option("--host", o.host, "address to bind: 127.0.0.1, ::1, 0.0.0.0 or :: (every local address), or an "
                 "address of one of this machine's interfaces")->capture_default_str();
  app.add_option("--port", o.port, "port; 0 picks a free one")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--backlog", o.backlog, "listen backlog (the kernel caps it at net.core.somaxconn)")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--server-cpus,--cpus", cpus, "cores to pin the server to, e.g. 0 or 0-1 (--cpus: the same)");
  app.add_option("--work-us", o.work_us, kWorkHelp)->check(FiniteRange(0.0, 1e6))->capture_default_str();
  add_read_size_flag(app, o.read_size);
  add_server_shape_flags(app, o.shape);
  add_zc_threshold_flag(app, o.zc_threshold);
  app.add_option("--ready-fd", o.ready_fd, "(used by bench) pipe for the address and final counters")->group("");
  app.add_option("--control-fd", o.control_fd, "(used by bench) pipe for requests to the server")->group("");
  app.add_flag("--kernel-counters", o.kernel_counters, "(used by bench) count what this process costs the kernel")->group("");
  app.add_option("--syscall-counter", o.syscall_counter, "(used by bench) its eBPF syscall counter: PROCESSES_FD,COUNTS_FD,SLOT,MIGRATIONS")
      ->group("")
      ->check([](const std::string& v) {
        return SyscallCounterHandoff::parse(v) ? std::string() : std::string("expected PROCESSES_FD,COUNTS_FD,SLOT,MIGRATIONS");
      });
  return finish_parse(app, argc - 1, argv + 1, o, exit_code, [&] {
    if (!cpus.empty()) o.cpus = parse_cpu_list(cpus);
    check_work_protocol(o.work_us, o.protocol);
    check_local_host(o.host);  // throws a UsageError naming the problem
  });
}

}  // namespace mux
