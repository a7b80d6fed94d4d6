#include "harness/sweep/sweep_runs.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "core/unique_fd.hpp"
#include "core/usage_error.hpp"
#include "harness/sweep/capacity_command.hpp"
#include "harness/spec/cli_checks.hpp"
#include "harness/spec/options.hpp"
#include "harness/results/run_reporters.hpp"
#include "harness/run/preflight.hpp"

namespace mux {
namespace {

// Flags of `bench` the sweep gives every run itself: passed through as well, the run would get
// two of them (bench refuses that at the first run, after the output directory was made) or a
// value that contradicts the sweep's plan and record. So are the per-run output files' flags
// (run_file_reporters()): the sweep writes each run's files itself, to OUT/runs/.
struct OwnedFlag {
  std::string_view flag, instead;
};
constexpr OwnedFlag kOwnedFlags[] = {
    {"--backend", "list the backends in --backends"},
    {"--server-cmd", "give the command as --servers=NAME=COMMAND"},
    {"--server-name", "give the command as --servers=NAME=COMMAND"},
    {"--message-size", "list the sizes in --message-sizes"},
    {"--slo", "give the SLO as --capacity"},
};

bool is_flag(const std::string& item, std::string_view flag) {
  return item == flag || (item.starts_with(flag) && item.size() > flag.size() && item[flag.size()] == '=');
}

// `where` names how the flag reached the runs: "" (passed through) or "--build-flags=NAME=".
void check_passed_flag(const std::string& item, const std::string& where) {
  if (!is_valid_utf8(item)) {
    const std::string name = item.substr(0, item.find('='));
    throw UsageError(fmt::format("{}{} is not valid UTF-8 (the runs' flags are recorded in sweep.json); give it in UTF-8",
                                 where.empty() ? "a flag passed to the runs, " : where,
                                 is_valid_utf8(name) ? name : std::string("?")));
  }
  const auto refuse = [&](std::string_view flag, std::string_view instead) {
    throw UsageError(fmt::format("{}{}: bench sweep sets {} for each run; {}", where, item, flag, instead));
  };
  for (const OwnedFlag& owned : kOwnedFlags)
    if (is_flag(item, owned.flag)) refuse(owned.flag, owned.instead);
  for (const RunFileReporter* file : run_file_reporters())
    if (is_flag(item, file->flag().flag))
      refuse(file->flag().flag, fmt::format("the sweep writes each run's {} itself, to OUT/runs/; drop it", file->name()));
}

// Holds this process's stderr in a memory file while it lives: bench's parser prints its one
// line itself, and the sweep reports it as its own, naming the sweep's flag.
class StderrCapture {
 public:
  StderrCapture() : file_(::memfd_create("bench-sweep-check", MFD_CLOEXEC)) {
    if (!file_) return;  // not captured: bench's own line reaches stderr, still one line
    std::fflush(stderr);
    saved_ = UniqueFd(::dup(STDERR_FILENO));
    if (saved_) ::dup2(file_.get(), STDERR_FILENO);
  }
  ~StderrCapture() { restore(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string finish() {
    restore();
    std::string text;
    char buffer[4096];
    off_t at = 0;
    for (ssize_t n = 0; file_ && (n = ::pread(file_.get(), buffer, sizeof buffer, at)) > 0; at += n)
      text.append(buffer, static_cast<std::size_t>(n));
    return text;
  }

 private:
  void restore() {
    if (!saved_) return;
    std::fflush(stderr);
    ::dup2(saved_.get(), STDERR_FILENO);
    saved_.reset();
  }
  UniqueFd file_, saved_;
};

struct Parsed {
  std::optional<RunOptions> options;  // none: refused, and `error` says why
  std::string error;
};

// Parses `args` (argv[0] "bench", then `capacity` for a capacity run) as that `bench` would,
// without running anything.
Parsed parse_as_bench(std::vector<std::string> args, bool capacity) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(args.size());
  int code = 0;
  CapacityFlags flags;
  StderrCapture capture;
  Parsed p;
  p.options = capacity ? parse_capacity_options(argc - 1, argv.data() + 1, code, flags)
                       : parse_run_options(argc, argv.data(), code, run_output_flags());
  std::string line = capture.finish();
  if (p.options && code == 0) return p;
  p.options.reset();
  // "bench: error: WHY; see `bench --help`\n" -> "WHY": the sweep prints it as its own.
  line = line.substr(0, line.find('\n'));
  if (const auto at = line.find(": error: "); at != std::string::npos) line.erase(0, at + 9);
  if (const auto see = line.rfind("; see `"); see != std::string::npos && line.ends_with("--help`")) line.resize(see);
  p.error = line.empty() ? fmt::format("bench refuses the runs' flags (exit status {})", code) : line;
  return p;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : " ") + item;
  return text;
}

// Each value of the grid's lists alone, so one bench refuses is named by the sweep's flag.
void check_grid_values(const SweepOptions& o) {
  const auto check = [&](const char* sweep_flag, const std::string& list, const char* bench_flag) {
    for (const std::size_t v : parse_sizes(sweep_flag, list)) {
      const Parsed p = parse_as_bench({"bench", "--protocol=" + o.protocol, fmt::format("{}={}", bench_flag, v)}, false);
      if (!p.options) throw UsageError(fmt::format("{}={}: {}", sweep_flag, list, p.error));
    }
  };
  check("--clients", o.clients, "--clients");
  check("--message-sizes", o.message_sizes, "--message-size");
}

// A percentage is of a capacity measured during the sweep: any positive rate stands in for it.
double stand_in_rate(const SweepRun& r) {
  if (r.rate.empty()) return 0;
  return r.rate.back() == '%' ? 1.0 : std::stod(r.rate);
}

// Why bench refuses run `r`, named by the sweep flag that brought the refused flag: the
// build's --build-flags when the run parses without them, a --servers command, or else the
// flags passed through, which bench's own words name.
std::string blame(const SweepOptions& o, const SweepTarget& t, const SweepRun& r, const std::string& error) {
  if (!t.build.flags.empty()) {
    SweepTarget plain{{t.build.name, t.build.binary, {}}, t.dir, {}};
    if (parse_as_bench(run_args(o, plain, r, stand_in_rate(r), false), !o.capacity.empty()).options)
      return fmt::format("--build-flags: build {} ({}): {}", t.build.name, join(t.build.flags), error);
  }
  if (find_server_command(o, r.backend)) return fmt::format("--servers: {}: {}", r.backend, error);
  return error;
}

}  // namespace

std::vector<std::string> run_args(const SweepOptions& o, const SweepTarget& t, const SweepRun& r, double rate,
                                  bool outputs) {
  std::vector<std::string> args = {"bench"};
  if (!o.capacity.empty()) args.insert(args.end(), {"capacity", "--slo=" + o.capacity});
  const auto command = find_server_command(o, r.backend);
  const std::vector<std::string> server = command ? server_command_flags(*command) : std::vector{"--backend=" + r.backend};
  args.insert(args.end(), server.begin(), server.end());
  args.insert(args.end(), {"--protocol=" + o.protocol, fmt::format("--clients={}", r.clients),
                           fmt::format("--message-size={}", r.message_size), fmt::format("--duration={}", o.duration_s),
                           fmt::format("--warmup={}", o.warmup_s)});
  if (outputs)
    for (const RunFileReporter* file : run_file_reporters())
      args.push_back(fmt::format("{}={}", file->flag().flag, (t.dir / "runs" / fmt::format("{}.{}", r.id, file->extension())).string()));
  if (rate > 0) args.push_back(fmt::format("--rate={}", rate));
  args.insert(args.end(), o.passthrough.begin(), o.passthrough.end());
  args.insert(args.end(), t.build.flags.begin(), t.build.flags.end());
  return args;
}

void check_passthrough(const SweepOptions& o) {
  for (const std::string& item : o.passthrough) {
    check_passed_flag(item, "");
    if (!o.rates.empty() && is_flag(item, "--rate"))
      throw UsageError("--rate and --rates both set the open-loop rate; give the rates as --rates=R1,R2");
  }
  for (const std::string& item : o.build_flags) {
    const auto eq = item.find('=');
    if (eq != std::string::npos) check_passed_flag(item.substr(eq + 1), "--build-flags=" + item.substr(0, eq + 1));
  }
}

std::map<const SweepRun*, std::string> check_runs(const SweepOptions& o, const std::vector<SweepTarget>& targets) {
  check_grid_values(o);
  std::map<std::string, std::string> verdicts;  // a run's argv -> "" (it runs) or why preflight leaves it out
  std::map<const SweepRun*, std::string> skipped;
  const SweepRun* first_skipped = nullptr;
  bool any_runs = false;
  for (const SweepTarget& t : targets) {
    for (const SweepRun& r : t.runs) {
      if (r.status == "complete") {  // resumed: measured already
        any_runs = true;
        continue;
      }
      const std::vector<std::string> args = run_args(o, t, r, stand_in_rate(r), false);
      auto [verdict, fresh] = verdicts.try_emplace(join(args));
      if (fresh) {
        Parsed p = parse_as_bench(args, !o.capacity.empty());
        if (!p.options) throw UsageError(blame(o, t, r, p.error));
        try {
          preflight(*p.options);
        } catch (const UsageError& e) {
          verdict->second = e.what();
        }
      }
      if (verdict->second.empty()) {
        any_runs = true;
        continue;
      }
      skipped.emplace(&r, verdict->second);
      if (first_skipped == nullptr || r.order < first_skipped->order) first_skipped = &r;
    }
  }
  if (!any_runs && first_skipped != nullptr)
    throw UsageError(fmt::format("no run of this sweep can run here ({} first): {}", first_skipped->id,
                                 skipped[first_skipped]));
  return skipped;
}

}  // namespace mux
