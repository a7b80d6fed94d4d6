// `bench sweep`: a grid of measurements (backends x clients x message sizes x repetitions),
// run in a seeded random order so drift on a shared machine favours no backend. Each run is a
// child `bench` writing its own JSON; sweep.json records the plan and every run's status,
// rewritten after each run, so an interrupted sweep resumes where it stopped.
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
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backends/backend.hpp"
#include "core/clock.hpp"
#include "core/protocol.hpp"
#include "harness/atomic_file.hpp"
#include "harness/cli_checks.hpp"
#include "harness/commands.hpp"
#include "harness/environment.hpp"
#include "harness/measurement.hpp"
#include "harness/preflight.hpp"
#include "harness/sweep_outputs.hpp"

namespace mux {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

struct SweepOptions {
  std::string backends = "all";
  std::string clients = "1,10,100,1000,10000";
  std::string message_sizes = "128";
  int repetitions = 3;
  double duration_s = 10;
  double warmup_s = 2;
  std::string out;
  std::uint64_t seed = 0;  // 0: pick one (and record it)
  std::string protocol = "echo";
  std::vector<std::string> passthrough;  // further flags for every run, e.g. --pipeline=4
};

std::vector<std::size_t> parse_sizes(const std::string& flag, const std::string& text) {
  std::vector<std::size_t> values;
  for (std::size_t pos = 0; pos <= text.size();) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, end - pos);
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
      v = std::stoull(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v == 0)
      throw UsageError(fmt::format("{}={}: '{}' is not a positive number; write a list like 1,10,100", flag, text, item));
    values.push_back(v);
    pos = end + 1;
  }
  return values;
}

std::vector<std::string> parse_backends(const std::string& text) {
  std::vector<std::string> names;
  if (text == "all") {
    for (const auto& e : backend_registry()) names.emplace_back(e.name);
    return names;
  }
  for (std::size_t pos = 0; pos <= text.size();) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    names.push_back(text.substr(pos, end - pos));
    if (find_backend(names.back()) == nullptr)
      throw UsageError(fmt::format("--backends: unknown backend '{}'; choose from {}, or all", names.back(),
                                   backend_name_list()));
    pos = end + 1;
  }
  return names;
}

ordered_json plan_json(const SweepOptions& o, const std::vector<SweepRun>& runs, const ordered_json& environment) {
  ordered_json list = ordered_json::array();
  for (const auto& r : runs) {
    ordered_json j{{"id", r.id},         {"backend", r.backend},       {"clients", r.clients},
                   {"message_size", r.message_size}, {"repetition", r.repetition}, {"order", r.order},
                   {"status", r.status}, {"file", fmt::format("runs/{}.json", r.id)}};
    if (!r.error.empty()) j["error"] = r.error;
    list.push_back(j);
  }
  return {{"schema_version", 1},        {"seed", o.seed},
          {"repetitions", o.repetitions}, {"backends", parse_backends(o.backends)},
          {"clients", parse_sizes("--clients", o.clients)},
          {"message_sizes", parse_sizes("--message-sizes", o.message_sizes)},
          {"duration_s", o.duration_s}, {"warmup_s", o.warmup_s},
          {"protocol", o.protocol},     {"passthrough", o.passthrough},
          {"environment", environment}, {"runs", list}};
}

// The plan: every combination, shuffled with the seed. A resumed sweep takes the plan (and
// seed) it recorded, and insists on the same grid.
std::vector<SweepRun> make_plan(SweepOptions& o, const fs::path& sweep_file) {
  if (fs::exists(sweep_file)) {
    const auto old = nlohmann::json::parse(std::ifstream(sweep_file), nullptr, false);
    if (old.is_discarded()) throw UsageError(fmt::format("{} is not valid JSON; remove it or use another --out", sweep_file.string()));
    const bool same = old["backends"] == parse_backends(o.backends) &&
                      old["clients"] == parse_sizes("--clients", o.clients) &&
                      old["message_sizes"] == parse_sizes("--message-sizes", o.message_sizes) &&
                      old["repetitions"] == o.repetitions && old["duration_s"] == o.duration_s &&
                      old["warmup_s"] == o.warmup_s && old["protocol"] == o.protocol &&
                      old["passthrough"] == o.passthrough;
    if (!same)
      throw UsageError(fmt::format("{} holds a different sweep; give the same flags to resume it, or another --out",
                                   o.out));
    o.seed = old["seed"];
    std::vector<SweepRun> runs;
    for (const auto& j : old["runs"])
      runs.push_back({j["id"], j["backend"], j["clients"], j["message_size"], j["repetition"], j["order"],
                      j["status"], j.value("error", ""), nullptr});
    return runs;
  }
  if (o.seed == 0) o.seed = std::random_device{}() | 1ULL;
  std::vector<SweepRun> runs;
  for (const auto& b : parse_backends(o.backends))
    for (std::size_t c : parse_sizes("--clients", o.clients))
      for (std::size_t m : parse_sizes("--message-sizes", o.message_sizes))
        for (int r = 0; r < o.repetitions; ++r)
          runs.push_back({fmt::format("{}-c{}-m{}-r{}", b, c, m, r), b, c, m, r, 0, "pending", "", nullptr});
  std::mt19937_64 rng(o.seed);
  std::shuffle(runs.begin(), runs.end(), rng);
  for (std::size_t i = 0; i < runs.size(); ++i) runs[i].order = static_cast<int>(i);
  return runs;
}

std::vector<std::string> run_args(const SweepOptions& o, const SweepRun& r, const fs::path& dir) {
  std::vector<std::string> args = {"bench",
                                   "--backend=" + r.backend,
                                   "--protocol=" + o.protocol,
                                   fmt::format("--clients={}", r.clients),
                                   fmt::format("--message-size={}", r.message_size),
                                   fmt::format("--duration={}", o.duration_s),
                                   fmt::format("--warmup={}", o.warmup_s),
                                   "--json=" + (dir / "runs" / (r.id + ".json")).string(),
                                   "--hgrm=" + (dir / "runs" / (r.id + ".hgrm")).string()};
  args.insert(args.end(), o.passthrough.begin(), o.passthrough.end());
  return args;
}

// Checks the flags passed through to every run with the parser `bench` itself uses, so that a
// bad one stops the sweep before anything runs; returns bench's exit status for them (0: fine).
int check_run_flags(const std::vector<std::string>& passthrough) {
  std::vector<std::string> args = {"bench"};
  args.insert(args.end(), passthrough.begin(), passthrough.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int code = 0;
  parse_run_options(static_cast<int>(argv.size()), argv.data(), code);  // prints bench's one line
  return code;
}

// Runs one child bench with output to LOG; returns its exit status (130 if interrupted).
int run_child(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv("/proc/self/exe", argv.data());
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

void progress(std::size_t done, std::size_t total, const SweepRun& r, double eta_s) {
  const int width = 30;
  const int filled = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.');
  const std::string eta = eta_s > 0 ? fmt::format("ETA {}m{:02}s", static_cast<int>(eta_s) / 60, static_cast<int>(eta_s) % 60) : "ETA ?";
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  std::fputs(fmt::format("{}[{}] {}/{}  {} clients={} msg={} rep={}  {}{}", tty ? "\r\033[K" : "", bar, done + 1, total,
                         r.backend, r.clients, r.message_size, r.repetition, eta, tty ? "" : "\n")
                 .c_str(),
             stderr);
}

void write_outputs(const SweepOptions& o, const std::vector<SweepRun>& runs, const fs::path& dir,
                   const ordered_json& environment) {
  write_file_atomically((dir / "sweep.json").string(), plan_json(o, runs, environment).dump(2) + "\n");
  const auto summary = summarize(runs, o.protocol);
  write_file_atomically((dir / "summary.json").string(), summary.dump(2) + "\n");
  write_file_atomically((dir / "benchmark.json").string(),
                        google_benchmark_json(runs, o.protocol, environment).dump(2) + "\n");
  write_file_atomically((dir / "bmf.json").string(), bencher_bmf(summary).dump(2) + "\n");
  write_file_atomically((dir / "results.csv").string(), long_csv(runs, o.protocol));
}

// Rounded down, so a coverage just short of a level is never printed as reaching it.
double coverage_pct(double coverage) { return std::floor(coverage * 1000) / 10; }

void print_summary(const ordered_json& summary) {
  // The interval's column names no confidence level: each row states the coverage it has.
  std::fputs(fmt::format("\n{:<9}{:>8}{:>8}{:>4}{:>12}{:>28}{:>7}{:>10}{:>12}\n", "backend", "clients", "msg", "n",
                         "req/s", "CI of median, coverage", "cv", "p99 µs", "srv µs/req")
                 .c_str(),
             stdout);
  for (const auto& c : summary["configurations"]) {
    const auto& t = c["throughput_rps"];
    const auto& p99 = c["p99_us"];
    const auto& srv = c["server_cpu_us_per_request"];
    std::fputs(fmt::format("{:<9}{:>8}{:>8}{:>4}{:>12.0f}{:>28}{:>6.1f}%{:>10.0f}{:>12}\n", c["backend"].get<std::string>(),
                           c["clients"].get<std::size_t>(), c["message_size"].get<std::size_t>(), t["n"].get<int>(),
                           t["median"].get<double>(),
                           fmt::format("[{:.0f}, {:.0f}] {:.1f}%", t["ci_low"].get<double>(), t["ci_high"].get<double>(),
                                       coverage_pct(t["ci_coverage"].get<double>())),
                           t["cv"].get<double>() * 100, p99["median"].get<double>(),
                           srv.is_null() ? std::string("n/a") : fmt::format("{:.2f}", srv["median"].get<double>()))
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
  app.add_option("--backends", o.backends, "all, or a list like epoll,io_uring")->capture_default_str();
  app.add_option("--clients", o.clients, "client counts")->capture_default_str();
  app.add_option("--message-sizes", o.message_sizes, "message sizes, bytes")->capture_default_str();
  app.add_option("--repetitions", o.repetitions, "runs per configuration")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds measured per run")->check(FiniteRange(0.01, 86400.0))->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds of warm-up per run")->check(FiniteRange(0.0, 3600.0))->capture_default_str();
  app.add_option("--protocol", o.protocol, protocol_help())->check(CLI::IsMember(protocol_names()))->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the run order (default: random, recorded in sweep.json)");
  app.add_option("--out", o.out, "directory for the results (re-running with the same one resumes)")->required();
  try {
    app.parse(argc - 1, argv + 1);
    o.passthrough = app.remaining();
    parse_backends(o.backends);
    parse_sizes("--clients", o.clients);
    parse_sizes("--message-sizes", o.message_sizes);
    if (const int code = check_run_flags(o.passthrough); code != 0) return code;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail_with(fmt::format("{}; see `bench sweep --help`", e.what()), kExitUsage);
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }

  const fs::path dir(o.out);
  std::error_code ec;
  fs::create_directories(dir / "runs", ec);
  if (ec) return fail_with(fmt::format("cannot create {}: {}", (dir / "runs").string(), ec.message()), kExitUsage);
  std::vector<SweepRun> runs;
  try {
    runs = make_plan(o, dir / "sweep.json");
  } catch (const UsageError& e) {
    return fail_with(e.what(), kExitUsage);
  }
  install_stop_signals();
  const auto environment = describe_environment();

  std::size_t done = 0, attempted = 0;
  double seconds_per_run = 0;
  std::vector<SweepRun*> order;
  for (auto& r : runs) order.push_back(&r);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->order < b->order; });
  for (SweepRun* r : order) {
    const fs::path json = dir / "runs" / (r->id + ".json");
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
    check.clients = r->clients;
    check.message_size = r->message_size;
    try {
      preflight(check);
    } catch (const UsageError& e) {
      r->status = "skipped";
      r->error = e.what();
      ++done;
      continue;
    }
    const std::size_t remaining = runs.size() - done;
    progress(done, runs.size(), *r, attempted ? seconds_per_run * static_cast<double>(remaining) : 0);
    const std::uint64_t t0 = now_ns();
    const int status = run_child(run_args(o, *r, dir), dir / "runs" / (r->id + ".log"));
    ++attempted;
    seconds_per_run += (static_cast<double>(now_ns() - t0) / 1e9 - seconds_per_run) / static_cast<double>(attempted);
    r->result = nlohmann::json::parse(std::ifstream(json), nullptr, false);
    if (status == 0 && !r->result.is_discarded() && r->result.value("complete", false)) {
      r->status = "complete";
    } else {
      r->status = status == kExitInterrupted ? "pending" : "failed";
      r->error = fmt::format("exit status {}: {}", status, last_line(dir / "runs" / (r->id + ".log")));
      if (status == kExitUsage && attempted == 1) {  // the flags themselves are wrong: stop now
        if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
        fs::remove(json, ec);
        std::string why = last_line(dir / "runs" / (r->id + ".log"));
        if (why.starts_with("bench: error: ")) why.erase(0, 14);
        return fail_with(why, kExitUsage);
      }
    }
    ++done;
    write_file_atomically((dir / "sweep.json").string(), plan_json(o, runs, environment).dump(2) + "\n");
  }
  if (::isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
  write_outputs(o, runs, dir, environment);
  print_summary(summarize(runs, o.protocol));
  const auto count = [&](const char* s) { return std::count_if(runs.begin(), runs.end(), [&](auto& r) { return r.status == s; }); };
  std::fputs(fmt::format("\n{} runs: {} complete, {} failed, {} skipped, {} pending; seed {}; results in {}\n",
                         runs.size(), count("complete"), count("failed"), count("skipped"), count("pending"), o.seed,
                         dir.string())
                 .c_str(),
             stdout);
  for (const auto& r : runs)
    if (r.status == "failed" || r.status == "skipped") std::fputs(fmt::format("  {} {}: {}\n", r.id, r.status, r.error).c_str(), stdout);
  if (stop_signal()) return kExitInterrupted;
  return count("failed") > 0 ? kExitFailed : 0;
}

}  // namespace mux
