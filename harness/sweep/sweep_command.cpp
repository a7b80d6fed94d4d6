// `bench sweep`: a grid of measurements (backends x clients x message sizes x repetitions),
// run in a seeded random order so drift on a shared machine favours no backend. Each run is a
// child `bench` writing its own JSON; sweep.json records the plan and every run's status,
// rewritten after each run, so an interrupted sweep resumes where it stopped. With --builds,
// the runs of two or more `bench` binaries alternate in one sweep (same-machine A/B), each
// build writing its own sweep directory under --out (the plan: harness/sweep/sweep_plan.cpp).
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
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/protocol.hpp"
#include "core/unique_fd.hpp"
#include "harness/system/atomic_file.hpp"
#include "harness/system/child_process.hpp"
#include "harness/spec/cli_checks.hpp"
#include "harness/spec/flag_binding.hpp"
#include "harness/sweep/sweep_command.hpp"
#include "harness/system/exit_status.hpp"
#include "harness/system/environment.hpp"
#include "harness/run/measurement.hpp"
#include "harness/sweep/capacity_command.hpp"
#include "harness/sweep/sweep_outputs.hpp"
#include "harness/sweep/sweep_plan.hpp"
#include "harness/sweep/sweep_runs.hpp"

namespace mux {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// Runs BINARY (a `bench`) with output to LOG; returns its exit status (130 if interrupted).
int run_child(const std::string& binary, const std::vector<std::string>& args, const fs::path& log) {
  const UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ChildSpec child{.path = binary, .argv = args, .fds = {}, .cpus = std::nullopt, .own_group = false, .go_fd = -1,
                  .close_in_child = {}, .run = {}, .join_tree = true};
  if (out) child.fds = {{out.get(), STDOUT_FILENO}, {out.get(), STDERR_FILENO}};
  // In the sweep's process group, as before (the terminal's Ctrl-C reaches it too); in its
  // process tree, so a sweep killed with SIGKILL takes its run and the run's server with it:
  // nothing is left to write into the output directory afterwards.
  const pid_t pid = spawn_child(child);
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

// A child's words can be any bytes, and sweep.json must stay valid JSON (nlohmann::json throws
// on malformed UTF-8 only when it is dumped): bytes of a malformed text become '?'.
std::string json_safe(std::string text) {
  if (!is_valid_utf8(text))
    for (char& c : text)
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  return text;
}

bool complete_result(const nlohmann::json& result) { return result.is_object() && result.value("complete", false); }

// The sweep's flags into `o`; an exit status when the sweep ends here (--help, bad input).
std::optional<int> parse_sweep_flags(int argc, char** argv, SweepOptions& o) {
  CLI::App app{"Measure a grid of configurations with repetitions, in a seeded random order. Flags not listed "
               "here (e.g. --pipeline=4, --server-cpus=0) are passed to every run.",
               "bench sweep"};
  app.allow_extras();
  add_spec_flags(app, o);
  app.get_option("--out")->required();
  try {
    refuse_empty_values(argc - 1, argv + 1);
    app.parse(argc - 1, argv + 1);
    o.passthrough = app.remaining();
    o.backends_given = app.get_option("--backends")->count() > 0;
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
    check_passthrough(o);
    parse_builds(o);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail_with(fmt::format("{}; see `bench sweep --help`", e.what()), kExitUsage);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }
  return std::nullopt;
}

// Runs what the plan has left, in its order, recording each run in every build's sweep.json
// as it ends. An exit status when the sweep must stop at once (a build refuses the flags);
// throws when it cannot go on (sweep.json cannot be written: a full disk).
std::optional<int> run_plan(const SweepOptions& o, std::vector<SweepTarget>& targets,
                            const std::map<const SweepRun*, std::string>& skipped, const ordered_json& environment) {
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
      if (complete_result(r->result)) {
        ++done;
        continue;
      }
    }
    if (stop_signal()) break;
    std::string no_rate;
    const auto skip = skipped.find(r);  // this machine cannot run it (preflight, before anything ran)
    const std::optional<double> rate = skip == skipped.end() ? resolve_rate(t->runs, *r, &no_rate) : std::nullopt;
    if (!rate) {
      r->status = "skipped";
      r->error = skip == skipped.end() ? no_rate : skip->second;
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
    if (status == 0 && complete_result(r->result)) {
      r->status = "complete";
    } else {
      const std::string said = json_safe(last_line(log));
      r->status = status == kExitInterrupted ? "pending" : "failed";
      r->error = fmt::format("exit status {}: {}", status, said.empty() ? "(it printed nothing)" : said);
      r->result = nullptr;
      // A build whose own parser refuses the flags the sweep's accepted (an older bench): stop now.
      if (status == kExitUsage && first_of_build) {
        if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
        std::error_code ec;
        fs::remove(json, ec);
        std::string why = said;
        if (why.starts_with("bench: error: ")) why.erase(0, 14);
        if (!t->build.name.empty()) why = fmt::format("build {} ({}): {}", t->build.name, t->build.binary, why);
        return fail_with(why, kExitUsage);
      }
    }
    ++done;
    write_plans(o, targets, environment);  // every build's: a resumed sweep finds all or none
  }
  return std::nullopt;
}

// Writes and prints every build's results, each on its own (one that cannot be written loses
// no other's). Returns the first error, "" when all were written.
std::string report_results(const SweepOptions& o, const std::vector<SweepTarget>& targets, const ordered_json& environment) {
  std::string error;
  for (const auto& t : targets) {
    const auto& runs = t.runs;
    try {
      write_outputs(o, t, environment);
    } catch (const std::exception& e) {
      if (error.empty()) error = e.what();
    }
    if (!t.build.name.empty()) std::fputs(fmt::format("\nbuild {}: {}\n", t.build.name, t.build.binary).c_str(), stdout);
    try {  // a run's document the summary cannot read costs this table, not the other builds'
      const auto summary = summarize(runs, o.protocol);
      print_summary(summary);
      print_capacities(summary);
    } catch (const std::exception& e) {
      if (error.empty()) error = e.what();
    }
    const auto count = [&](const char* s) { return std::count_if(runs.begin(), runs.end(), [&](auto& r) { return r.status == s; }); };
    std::fputs(fmt::format("\n{} runs: {} complete, {} failed, {} skipped, {} pending; seed {}; results in {}\n",
                           runs.size(), count("complete"), count("failed"), count("skipped"), count("pending"), o.seed,
                           t.dir.string())
                   .c_str(),
               stdout);
    for (const auto& r : runs)
      if (r.status == "failed" || r.status == "skipped") std::fputs(fmt::format("  {} {}: {}\n", r.id, r.status, r.error).c_str(), stdout);
  }
  std::fflush(stdout);
  return error;
}

// The sweep's exit status, with its one line on stderr when it is not 0.
int sweep_status(const std::vector<SweepTarget>& targets, const std::string& error, const std::string& out) {
  if (!error.empty())
    return fail_with(fmt::format("{}; the completed runs are kept in {} (the same command resumes the sweep)",
                                 error, out), kExitFailed);
  if (stop_signal()) return kExitInterrupted;
  std::size_t runs = 0, complete = 0, failed = 0;
  const SweepRun* first_failed = nullptr;
  for (const auto& t : targets)
    for (const auto& r : t.runs) {
      ++runs;
      complete += r.status == "complete";
      if (r.status != "failed") continue;
      ++failed;
      if (first_failed == nullptr || r.order < first_failed->order) first_failed = &r;
    }
  if (failed > 0)
    return fail_with(fmt::format("{} of {} runs failed; the first, {}: {}", failed, runs, first_failed->id,
                                 first_failed->error), kExitFailed);
  if (complete == 0) return fail_with("no run of this sweep ran (each was skipped, see why above)", kExitFailed);
  return 0;
}

}  // namespace

int sweep_command(int argc, char** argv) {
  SweepOptions o;
  if (const auto code = parse_sweep_flags(argc, argv, o)) return *code;
  std::vector<SweepTarget> targets;
  std::map<const SweepRun*, std::string> skipped;
  try {
    targets = make_plan(o);
    skipped = check_runs(o, targets);  // every run's flags as its bench parses them, before anything exists
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
  std::string error;  // what stopped the sweep (sweep.json unwritable: a full disk)
  try {
    if (const auto code = run_plan(o, targets, skipped, environment)) return *code;
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
  const std::string unwritten = report_results(o, targets, environment);
  return sweep_status(targets, error.empty() ? unwritten : error, o.out);
}

}  // namespace mux
