// `bench sweep`: a grid of measurements (backends x clients x message sizes x repetitions),
// run in a seeded random order so drift on a shared machine favours no backend. Each run is a
// child `bench` writing its own JSON; sweep.json records the plan and every run's status,
// rewritten after each run, so an interrupted sweep resumes where it stopped. With --builds,
// the runs of two or more `bench` binaries alternate in one sweep (same-machine A/B), each
// build writing its own sweep directory under --out (the plan: harness/sweep_plan.cpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/protocol.hpp"
#include "harness/atomic_file.hpp"
#include "harness/cli_checks.hpp"
#include "harness/commands.hpp"
#include "harness/environment.hpp"
#include "harness/measurement.hpp"
#include "harness/preflight.hpp"
#include "harness/capacity_command.hpp"
#include "harness/sweep_outputs.hpp"
#include "harness/sweep_plan.hpp"

namespace mux {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::vector<std::string> run_args(const SweepOptions& o, const SweepTarget& t, const SweepRun& r, double rate) {
  const fs::path& dir = t.dir;
  std::vector<std::string> args = {"bench"};
  if (!o.capacity.empty()) args.insert(args.end(), {"capacity", "--slo=" + o.capacity});
  const auto command = find_server_command(o, r.backend);
  const std::vector<std::string> server = command ? server_command_flags(*command) : std::vector{"--backend=" + r.backend};
  args.insert(args.end(), server.begin(), server.end());
  args.insert(args.end(), {"--protocol=" + o.protocol,
                                   fmt::format("--clients={}", r.clients),
                                   fmt::format("--message-size={}", r.message_size),
                                   fmt::format("--duration={}", o.duration_s),
                                   fmt::format("--warmup={}", o.warmup_s),
                                   "--json=" + (dir / "runs" / (r.id + ".json")).string(),
                                   "--hgrm=" + (dir / "runs" / (r.id + ".hgrm")).string()});
  if (rate > 0) args.push_back(fmt::format("--rate={}", rate));
  args.insert(args.end(), o.passthrough.begin(), o.passthrough.end());
  args.insert(args.end(), t.build.flags.begin(), t.build.flags.end());
  return args;
}

// Checks the flags passed through to every run with the parser `bench` itself uses, so that a
// bad one stops the sweep before anything runs; returns bench's exit status for them (0: fine).
// With --capacity=SLO the runs are `bench capacity`, whose parser checks them. Each --servers
// command is checked with them as its runs will get them: its {port} or {path} against
// --transport, and the flags a command's server does not take.
int check_run_flags(const SweepOptions& o) {
  std::vector<std::vector<std::string>> servers = {{}};  // {}: bench's own backends
  for (const auto& s : parse_servers(o.servers)) servers.push_back(server_command_flags(s));
  for (const auto& server : servers) {
    std::vector<std::string> args = {"bench"};
    if (!o.capacity.empty()) args.push_back("--slo=" + o.capacity);
    args.insert(args.end(), server.begin(), server.end());
    args.insert(args.end(), o.passthrough.begin(), o.passthrough.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = 0;
    CapacityFlags flags;
    if (o.capacity.empty())
      parse_run_options(static_cast<int>(argv.size()), argv.data(), code);  // prints bench's one line
    else
      parse_capacity_options(static_cast<int>(argv.size()), argv.data(), code, flags);
    if (code != 0) return code;
  }
  return 0;
}

// Runs BINARY (a `bench`) with output to LOG; returns its exit status (130 if interrupted).
int run_child(const std::string& binary, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  bool forwarded = false;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (stop_signal() && !forwarded) {  // Ctrl-C reaches the child too; SIGTERM may not
      ::kill(pid, SIGINT);
      forwarded = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string last_line(const fs::path& log) {
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

void progress(std::size_t done, std::size_t total, const SweepTarget& t, const SweepRun& r, double eta_s) {
  const int width = 30;
  const int filled = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.');
  const std::string eta = eta_s > 0 ? fmt::format("ETA {}m{:02}s", static_cast<int>(eta_s) / 60, static_cast<int>(eta_s) % 60) : "ETA ?";
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const std::string build = t.build.name.empty() ? "" : t.build.name + " ";
  std::fputs(fmt::format("{}[{}] {}/{}  {}{} clients={} msg={} rep={}  {}{}", tty ? "\r\033[K" : "", bar, done + 1, total,
                         build, r.backend, r.clients, r.message_size, r.repetition, eta, tty ? "" : "\n")
                 .c_str(),
             stderr);
}

// Where and with what a build was measured. An ordinary sweep: this process's environment. A
// named build: this machine as this process sees it, with the build's own identity (commit,
// compiler, build type) as its first complete run reported it (null until one completes), so
// each build's sweep.json fingerprint names its own compiler and build type.
ordered_json build_environment(const ordered_json& machine, const SweepTarget& t) {
  if (t.build.name.empty()) return machine;
  ordered_json env = machine;
  const char* own[] = {"git_commit", "muxbench_version", "compiler", "build_type"};
  for (const char* key : own) env[key] = nullptr;
  for (const auto& r : t.runs) {
    if (r.status != "complete" || !r.result.is_object() || !r.result.contains("environment")) continue;
    const auto& reported = r.result["environment"];
    for (const char* key : own)
      if (reported.contains(key)) env[key] = reported[key];
    break;
  }
  if (env.contains("machine_fingerprint")) {
    env["machine_fingerprint"]["compiler"] = env["compiler"];
    env["machine_fingerprint"]["build_type"] = env["build_type"];
  }
  return env;
}

void write_plans(const SweepOptions& o, const std::vector<SweepTarget>& targets, const ordered_json& machine) {
  for (const auto& t : targets)
    write_file_atomically((t.dir / "sweep.json").string(), plan_json(o, t, build_environment(machine, t)).dump(2) + "\n");
}

void write_outputs(const SweepOptions& o, const SweepTarget& t, const ordered_json& machine) {
  const std::vector<SweepRun>& runs = t.runs;
  const fs::path& dir = t.dir;
  const ordered_json environment = build_environment(machine, t);
  write_file_atomically((dir / "sweep.json").string(), plan_json(o, t, environment).dump(2) + "\n");
  const auto summary = summarize(runs, o.protocol);
  write_file_atomically((dir / "summary.json").string(), summary.dump(2) + "\n");
  write_file_atomically((dir / "benchmark.json").string(),
                        google_benchmark_json(runs, o.protocol, environment).dump(2) + "\n");
  write_file_atomically((dir / "bmf.json").string(), bencher_bmf(summary).dump(2) + "\n");
  write_file_atomically((dir / "results.csv").string(), long_csv(runs, o.protocol));
}

// Rounded down, so a coverage just short of a level is never printed as reaching it.
double coverage_pct(double coverage) { return std::floor(coverage * 1000) / 10; }

void print_capacities(const ordered_json& summary) {
  bool any = false;
  for (const auto& c : summary["configurations"]) {
    if (c["capacity_rps"].is_null()) continue;
    if (!any) std::fputs(fmt::format("\n{:<16}{:>8}{:>8}{:>4}{:>16}{:>28}\n", "backend", "clients", "msg", "n",
                                     "capacity req/s", "CI of median, coverage").c_str(), stdout);
    any = true;
    const auto& k = c["capacity_rps"];
    std::fputs(fmt::format("{:<16}{:>8}{:>8}{:>4}{:>16.0f}{:>28}\n", c["backend"].get<std::string>(),
                           c["clients"].get<std::size_t>(), c["message_size"].get<std::size_t>(), k["n"].get<int>(),
                           k["median"].get<double>(),
                           fmt::format("[{:.0f}, {:.0f}] {:.1f}%", k["ci_low"].get<double>(), k["ci_high"].get<double>(),
                                       coverage_pct(k["ci_coverage"].get<double>())))
                   .c_str(),
               stdout);
  }
}

void print_summary(const ordered_json& summary) {
  // The interval's column names no confidence level: each row states the coverage it has.
  std::fputs(fmt::format("\n{:<9}{:>8}{:>8}{:>9}{:>4}{:>12}{:>28}{:>7}{:>10}{:>12}{:>13}{:>12}\n", "backend", "clients",
                         "msg", "rate", "n", "req/s", "CI of median, coverage", "cv", "p99 µs", "srv µs/req", "srv sys/req", "srv cs/req")
                 .c_str(),
             stdout);
  for (const auto& c : summary["configurations"]) {
    const auto& t = c["throughput_rps"];
    const auto& p99 = c["p99_us"];
    const auto& srv = c["server_cpu_us_per_request"];
    const auto median = [&](const char* metric) {
      return c[metric].is_null() ? std::string("n/a") : fmt::format("{:.3f}", c[metric]["median"].get<double>());
    };
    std::fputs(fmt::format("{:<9}{:>8}{:>8}{:>9}{:>4}{:>12.0f}{:>28}{:>6.1f}%{:>10.0f}{:>12}{:>13}{:>12}\n",
                           c["backend"].get<std::string>(), c["clients"].get<std::size_t>(),
                           c["message_size"].get<std::size_t>(), c["rate"].is_null() ? "closed" : c["rate"].get<std::string>(),
                           t["n"].get<int>(),
                           t["median"].get<double>(),
                           fmt::format("[{:.0f}, {:.0f}] {:.1f}%", t["ci_low"].get<double>(), t["ci_high"].get<double>(),
                                       coverage_pct(t["ci_coverage"].get<double>())),
                           t["cv"].get<double>() * 100, p99["median"].get<double>(),
                           srv.is_null() ? std::string("n/a") : fmt::format("{:.2f}", srv["median"].get<double>()),
                           median("server_syscalls_per_request"), median("server_context_switches_per_request"))
                   .c_str(),
               stdout);
  }
}

}  // namespace

int sweep_command(int argc, char** argv) {
  SweepOptions o;
  CLI::App app{"Measure a grid of configurations with repetitions, in a seeded random order. Flags not listed "
               "here (e.g. --pipeline=4, --server-cpus=0) are passed to every run.",
               "bench sweep"};
  app.allow_extras();
  auto* backends = app.add_option("--backends", o.backends, "a list like epoll,io_uring; all: every backend but the opt-in ones (add them: all,io_uring+sqpoll)")->capture_default_str();
  app.add_option("--servers", o.servers,
                 "other servers measured like backends (`bench --server-cmd`): NAME=COMMAND,NAME=COMMAND, each "
                 "command with {port} (and {host}, {cpus}), e.g. nginx='scripts/nginx-server {port} {host}'; "
                 "without --backends only these are measured");
  app.add_option("--clients", o.clients, "client counts")->capture_default_str();
  app.add_option("--message-sizes", o.message_sizes, "message sizes, bytes")->capture_default_str();
  app.add_option("--capacity", o.capacity,
                 "SLO, e.g. p99<=1ms: each run is `bench capacity --slo=SLO`, the highest rate meeting it (its "
                 "closed-loop probe's figures are the run's; summary and compare.py add capacity_rps)");
  app.add_option("--rates", o.rates,
                 "open-loop rates, e.g. 10%,50%,90%,120% of the closed-loop capacity each configuration measured "
                 "first in this sweep (its closed-loop runs are added and run first), or requests per second, e.g. "
                 "20000; `closed` is the closed loop (default: closed loop only)");
  app.add_option("--repetitions", o.repetitions, "runs per configuration")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds measured per run")->check(FiniteRange(0.01, 86400.0))->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds of warm-up per run")->check(FiniteRange(0.0, 3600.0))->capture_default_str();
  app.add_option("--protocol", o.protocol, protocol_help())->check(CLI::IsMember(protocol_names()))->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the run order (default: random, recorded in sweep.json)")->check(WholeNumber());
  app.add_option("--out", o.out, "directory for the results (re-running with the same one resumes)")->required();
  app.add_option("--builds", o.builds,
                 "same-machine A/B: NAME=BENCH,NAME=BENCH (two or more `bench` binaries); their runs alternate in "
                 "a seeded random order, each build's results go to OUT/NAME/");
  app.add_option("--build-flags", o.build_flags,
                 "NAME=FLAG: a flag for that build's runs only, e.g. current=--work-us=0.5 (repeatable)");
  try {
    refuse_empty_values(argc - 1, argv + 1);
    app.parse(argc - 1, argv + 1);
    o.passthrough = app.remaining();
    o.backends_given = backends->count() > 0;
    sweep_servers(o);
    parse_sizes("--clients", o.clients);
    parse_sizes("--message-sizes", o.message_sizes);
    parse_rates(o.rates);
    if (!o.capacity.empty()) {
      try {
        parse_slo(o.capacity);
      } catch (const UsageError& e) {
        throw UsageError(fmt::format("--capacity{}", std::string(e.what()).substr(5)));  // "--slo..." -> "--capacity..."
      }
      if (!o.rates.empty()) throw UsageError("--capacity searches the rates itself; drop --rates or --capacity");
    }
    if (!o.rates.empty() && std::any_of(o.passthrough.begin(), o.passthrough.end(),
                                        [](const std::string& a) { return a == "--rate" || a.starts_with("--rate="); }))
      throw UsageError("--rate and --rates both set the open-loop rate; give the rates as --rates=R1,R2");
    if (const int code = check_run_flags(o); code != 0) return code;
    parse_builds(o);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail_with(fmt::format("{}; see `bench sweep --help`", e.what()), kExitUsage);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }

  std::vector<SweepTarget> targets;
  try {
    targets = make_plan(o);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }
  std::error_code ec;
  for (const auto& t : targets) {
    fs::create_directories(t.dir / "runs", ec);
    if (ec) return fail_with(fmt::format("cannot create {}: {}", (t.dir / "runs").string(), ec.message()), kExitUsage);
  }
  install_stop_signals();
  const auto environment = describe_environment();

  // Every run of every build, in the plan's order.
  std::vector<std::pair<SweepTarget*, SweepRun*>> order;
  for (auto& t : targets)
    for (auto& r : t.runs) order.emplace_back(&t, &r);
  std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.second->order < b.second->order; });
  std::size_t done = 0, attempted = 0;
  double seconds_per_run = 0;
  std::map<const SweepTarget*, int> attempted_by_build;
  for (auto [t, r] : order) {
    const fs::path json = t->dir / "runs" / (r->id + ".json");
    const fs::path log = t->dir / "runs" / (r->id + ".log");
    if (r->status == "complete" && fs::exists(json)) {
      r->result = nlohmann::json::parse(std::ifstream(json), nullptr, false);
      if (!r->result.is_discarded() && r->result.value("complete", false)) {
        ++done;
        continue;
      }
    }
    if (stop_signal()) break;
    RunOptions check;  // would `bench` accept this configuration on this machine?
    check.backend = r->backend;
    if (const auto command = find_server_command(o, r->backend))
      check.server_cmd = command->command;  // not a registry backend: no probe
    check.load.clients = r->clients;
    check.load.message_size = static_cast<double>(r->message_size);
    try {
      preflight(check);
    } catch (const UsageError& e) {
      r->status = "skipped";
      r->error = e.what();
      ++done;
      continue;
    }
    std::string no_rate;
    const std::optional<double> rate = resolve_rate(t->runs, *r, &no_rate);
    if (!rate) {
      r->status = "skipped";
      r->error = no_rate;
      ++done;
      continue;
    }
    const std::size_t remaining = order.size() - done;
    progress(done, order.size(), *t, *r, attempted ? seconds_per_run * static_cast<double>(remaining) : 0);
    const std::uint64_t t0 = now_ns();
    const int status = run_child(t->build.binary, run_args(o, *t, *r, *rate), log);
    ++attempted;
    const bool first_of_build = ++attempted_by_build[t] == 1;
    seconds_per_run += (static_cast<double>(now_ns() - t0) / 1e9 - seconds_per_run) / static_cast<double>(attempted);
    r->result = nlohmann::json::parse(std::ifstream(json), nullptr, false);
    if (status == 0 && !r->result.is_discarded() && r->result.value("complete", false)) {
      r->status = "complete";
    } else {
      r->status = status == kExitInterrupted ? "pending" : "failed";
      r->error = fmt::format("exit status {}: {}", status, last_line(log));
      if (status == kExitUsage && first_of_build) {  // the flags themselves are wrong: stop now
        if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
        fs::remove(json, ec);
        std::string why = last_line(log);
        if (why.starts_with("bench: error: ")) why.erase(0, 14);
        if (!t->build.name.empty()) why = fmt::format("build {} ({}): {}", t->build.name, t->build.binary, why);
        return fail_with(why, kExitUsage);
      }
    }
    ++done;
    write_plans(o, targets, environment);  // every build's: a resumed sweep finds all or none
  }
  if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
  bool failed = false;
  for (const auto& t : targets) {
    const auto& runs = t.runs;
    write_outputs(o, t, environment);
    if (!t.build.name.empty()) std::fputs(fmt::format("\nbuild {}: {}\n", t.build.name, t.build.binary).c_str(), stdout);
    print_summary(summarize(runs, o.protocol));
    print_capacities(summarize(runs, o.protocol));
    const auto count = [&](const char* s) { return std::count_if(runs.begin(), runs.end(), [&](auto& r) { return r.status == s; }); };
    std::fputs(fmt::format("\n{} runs: {} complete, {} failed, {} skipped, {} pending; seed {}; results in {}\n",
                           runs.size(), count("complete"), count("failed"), count("skipped"), count("pending"), o.seed,
                           t.dir.string())
                   .c_str(),
               stdout);
    for (const auto& r : runs)
      if (r.status == "failed" || r.status == "skipped") std::fputs(fmt::format("  {} {}: {}\n", r.id, r.status, r.error).c_str(), stdout);
    failed = failed || count("failed") > 0;
  }
  if (stop_signal()) return kExitInterrupted;
  return failed ? kExitFailed : 0;
}

}  // namespace mux
