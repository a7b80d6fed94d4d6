#include "harness/spec/options.hpp"

#include <cstdio>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backends/backend.hpp"
#include "core/echo_protocol.hpp"
#include "core/http_protocol.hpp"
#include "core/net.hpp"
#include "core/protocol.hpp"
#include "core/request_work.hpp"
#include "harness/spec/cli_checks.hpp"
#include "harness/spec/flag_binding.hpp"
#include "harness/spec/server_command_template.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/spec/transport.hpp"
#include "loadgen/uring_probe.hpp"

namespace mux {
namespace {

// CLI11 errors become the project's one-line form: the problem, the fix, exit status 2.
template <typename Options>
std::optional<Options> finish_parse(CLI::App& app, int argc, char** argv, Options& options, int& exit_code,
                                    const std::function<void()>& after = {}) {
  try {
    refuse_empty_values(argc, argv);
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

// --client-cpus: its errors name the flag, as the server fields' do (server_spec.cpp).
CpuList cpus_of(const char* flag, const std::string& text, const CpuList& fallback) {
  if (text.empty()) return fallback;
  try {
    return parse_cpu_list(text);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}={}: {}", flag, text, e.what()));
  }
}

}  // namespace

std::vector<std::string> RunOptions::backends() const {
  return server.backend == "all" ? backends_in_all() : std::vector<std::string>{server.backend};
}

const std::string& RunOptions::output_path(std::string_view flag) const {
  static const std::string none;
  const auto it = outputs.find(flag);
  return it == outputs.end() ? none : it->second;
}

namespace {

// The load and output flags, shared by `bench` and `bench load`.
struct LoadFlags {
  std::string client_cpus;
};

void add_load_flags(CLI::App& app, RunOptions& o, LoadFlags& f, std::span<const OutputFlag> outputs) {
  add_spec_flags(app, o.load);  // --protocol ... --loadgen-threads: LoadConfig::fields()
  app.add_option("--sources", o.sources, "local addresses to connect from, comma-separated; auto: 127.0.0.1, "
                                         "then 127.0.0.2... when one address runs out of ports")
      ->check(Utf8Text())->capture_default_str();
  app.add_option("--loadgen-processes", o.loadgen_processes,
                 "load generator processes, each with its share of the clients and rate and its own fds and threads "
                 "(the open-files limit applies per process); their results are merged exactly")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--client-cpus", f.client_cpus, "cores for the load generator (default: second half)");
  for (const auto& [flag, help] : outputs)
    app.add_option(std::string(flag), o.outputs[std::string(flag)], std::string(help));
  app.add_option_function<std::string>(
         "--counters",
         [&o](const std::string& v) {
           std::string why;
           const auto mode = parse_counters_mode(v, &why);  // the validator let only good ones through
           o.counters = mode && mode->enabled;
           o.counters_sampling = mode ? mode->sampling : std::nullopt;
         },
         "count what each request costs the kernel on both sides (syscalls, context switches, page faults... "
         "with eBPF, perf_event_open and getrusage): sampled[:P%]: system calls counted only in 100 ms slices "
         "covering P% of the window (default 5%), under 1% of throughput; on: counted exactly, over the whole "
         "window (every task's system calls slow down while counted: 7-15% of throughput); off [default: sampled]")
      ->check(CLI::Validator(
          [](std::string& v) {
            std::string why;
            return parse_counters_mode(v, &why) ? std::string() : why;
          },
          "on|off|sampled[:P%]"));
  app.add_flag("--syscalls", o.show_syscalls, "print each side's system calls per request, one by one, under the table");
}

// Simulated work is per request: a protocol whose server cannot count requests cannot do it,
// and drawn work is drawn from the payload, which only echo's requests carry.
void check_work_protocol(const Distribution& work_us, const std::string& protocol) {
  if (supports_request_work(protocol, work_us)) return;
  if (!protocol_counts_requests(protocol))
    throw UsageError(fmt::format("--work-us needs a protocol whose server sees where requests end; --protocol={} "
                                 "has no framing: use echo or http",
                                 protocol));
  throw UsageError(fmt::format("--work-us={} draws each request's work from its payload, which only --protocol=echo "
                               "has; --protocol={} takes a fixed --work-us=N",
                               work_us.to_string(), protocol));
}

// --loadgen-io: auto becomes io_uring where this kernel allows it, else epoll with the reason;
// io_uring asked for where it cannot run is refused.
void resolve_loadgen_io(LoadConfig& load) {
  if (load.io == LoadConfig::Io::epoll) return;
  const std::string why = uring_load_unavailable_reason();
  if (load.io == LoadConfig::Io::io_uring && !why.empty())
    throw UsageError(fmt::format("--loadgen-io=io_uring: {}", why));  // `why` names the fix
  load.io = why.empty() ? LoadConfig::Io::io_uring : LoadConfig::Io::epoll;
  if (!why.empty()) load.io_fallback = why;
}

void finish_load_flags(RunOptions& o, const LoadFlags& f, const CpuList& default_client_cpus) {
  resolve_loadgen_io(o.load);
  o.load.cpus = cpus_of("--client-cpus", f.client_cpus, default_client_cpus);
  if (o.load.threads == 0) o.load.threads = o.load.cpus.size();
  if (o.loadgen_processes > o.load.clients)
    throw UsageError(fmt::format("--loadgen-processes={} is more than --clients={}: each load process needs a client; "
                                 "use at most --loadgen-processes={}",
                                 o.loadgen_processes, o.load.clients, o.load.clients));
}

}  // namespace

std::optional<RunOptions> parse_run_options(int argc, char** argv, int& exit_code, std::span<const OutputFlag> outputs,
                                            const std::string& command,
                                            const std::function<void(CLI::App&)>& add_flags,
                                            const std::function<void(const RunOptions&)>& check) {
  RunOptions o;
  CLI::App app{"muxbench: measure one Linux I/O model serving clients over loopback.\n"
               "The server backend runs in its own pinned process; the load generator on the other cores.",
               command};
  app.footer("Subcommands: `bench serve --help` runs one backend alone; `bench load --help` drives a running server.\n"
             "`bench --list-backends [--json]` lists the backends, their variants and whether each runs here;\n"
             "`bench --list-counters [--json]` the kernel counters and the thresholds results are judged by.");
  LoadFlags flags;
  add_server_flags(app, o.server, ServerCommand::run);
  add_load_flags(app, o, flags, outputs);
  if (add_flags) add_flags(app);
  return finish_parse(app, argc, argv, o, exit_code, [&] {
    const CpuSplit split = default_cpu_split();
    if (o.server.cpus.empty()) o.server.cpus = split.server;
    finish_load_flags(o, flags, split.client);
    o.server.protocol = o.load.protocol;  // the server speaks the load's protocol
    o.load.work_us = o.server.work_us;    // drawn work: the load reports short and long requests apart
    check_work_protocol(o.server.work_us, o.server.protocol);
    finish_server_flags(app, o.server, ServerCommand::run);
    // Our own server's body is verified byte for byte; another server's has its length checked.
    if (o.load.protocol == "http" && o.server.command.empty()) o.load.expected_body = std::string(kHttpBody);
    if (check) check(o);
  });
}

std::optional<RunOptions> parse_load_options(int argc, char** argv, int& exit_code, std::span<const OutputFlag> outputs) {
  RunOptions o;
  o.server.backend = "external";
  CLI::App app{"Drive a server that is already running (`bench serve`, nginx, ...) with the load generator.",
               "bench load"};
  LoadFlags flags;
  app.add_option("--target", o.target,
                 "HOST:PORT of the server: an address or a host name, e.g. 127.0.0.1:8080, [::1]:8080, "
                 "server.example:8080; or unix:PATH, a Unix domain socket")
      ->required()->check(Utf8Text());
  app.add_option("--label", o.server.backend, "name of the server in the table and the JSON")
      ->check(Utf8Text())->capture_default_str();
  add_load_flags(app, o, flags, outputs);
  std::string expect_body;
  // The server's drawn work, as `bench serve --work-us` was given it: only to split the latency
  // into short and long requests (the server does the work, not this process).
  app.add_option_function<std::string>(
         "--work-us", [&o](const std::string& v) { o.server.work_us = Distribution::parse(v); },
         "echo: the distribution the server draws its work from (as given to `bench serve --work-us`), so the "
         "latency of short and long requests is reported apart; e.g. bimodal:0.9:0:2000")
      ->check(DistributionWithin(0, kMaxWorkUs, false));
  auto* expect_body_flag = app.add_option("--expect-body", expect_body, "http: the response body every reply must "
                                          "carry, compared byte for byte (default: any body, its length checked)")
                              ->check(Utf8Text());
  return finish_parse(app, argc - 1, argv + 1, o, exit_code, [&] {
    if (expect_body_flag->count() > 0) {
      if (o.load.protocol != "http")
        throw UsageError(fmt::format("--expect-body applies to --protocol=http only, not --protocol={}", o.load.protocol));
      o.load.expected_body = expect_body;
    }
    o.load.work_us = o.server.work_us;
    if (!o.load.work_us.is_fixed()) check_work_protocol(o.load.work_us, o.load.protocol);
    o.target_name = o.target;
    const SocketAddress target = resolve_target(o.target);
    o.target = target.to_string();
    if (target.is_unix()) o.server.transport = kTransportUnix;
    finish_load_flags(o, flags, allowed_cpus());
  });
}

std::optional<ServeOptions> parse_serve_options(int argc, char** argv, int& exit_code) {
  ServeOptions o;
  CLI::App app{"Run one server backend alone until SIGINT, SIGTERM or SIGHUP.", "bench serve"};
  add_server_flags(app, o.server, ServerCommand::serve);
  app.add_option("--ready-fd", o.ready_fd, "(used by bench) pipe for the address and final counters")->group("");
  app.add_option("--control-fd", o.control_fd, "(used by bench) pipe for requests to the server")->group("");
  app.add_flag("--kernel-counters", o.kernel_counters, "(used by bench) count what this process costs the kernel")->group("");
  app.add_option("--syscall-counter", o.syscall_counter, "(used by bench) its eBPF syscall counter: a SyscallCounterHandoff as JSON")
      ->group("")
      ->check([](const std::string& v) {
        return SyscallCounterHandoff::parse(v) ? std::string() : std::string("expected a SyscallCounterHandoff as JSON");
      });
  return finish_parse(app, argc - 1, argv + 1, o, exit_code, [&] {
    check_work_protocol(o.server.work_us, o.server.protocol);
    finish_server_flags(app, o.server, ServerCommand::serve);
  });
}

}  // namespace mux
