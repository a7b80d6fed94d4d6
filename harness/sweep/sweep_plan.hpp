#pragma once
// The plan of `bench sweep`: the grid it measures, the builds it measures it with, and the
// seeded random order of the runs. Written to (and resumed from) each build's sweep.json.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/sweep/sweep_outputs.hpp"
#include "core/protocol.hpp"
#include "loadgen/field_list.hpp"

namespace mux {

// What `bench sweep` is asked to measure. Its flags come from the field list below (bound by
// harness/spec/flag_binding.hpp); `passthrough` and `backends_given` are set by the parse.
struct SweepOptions {
  std::string backends = "all";
  std::string servers;  // --servers=NAME=CMD,NAME=CMD: --server-cmd servers measured beside the backends
  bool backends_given = false;  // --backends on the command line (else, with --servers, no backend)
  std::string clients = "1,10,100,1000,10000";
  std::string message_sizes = "128";
  std::string capacity;  // --capacity=SLO: each run is `bench capacity --slo=SLO` ("" : plain runs)
  std::string rates;  // --rates: "" closed loop only; else "closed", req/s, or N% of the closed-loop capacity
  int repetitions = 3;
  double duration_s = 10;
  double warmup_s = 2;
  std::string out;
  std::uint64_t seed = 0;  // 0: pick one (and record it)
  std::string protocol = "echo";
  std::vector<std::string> passthrough;  // further flags for every run, e.g. --pipeline=4
  std::string builds;                    // --builds=NAME=BENCH,NAME=BENCH (empty: this binary)
  std::vector<std::string> build_flags;  // --build-flags=NAME=FLAG, for one build's runs only

  static auto fields() {
    using S = SweepOptions;
    const char* servers_help =
        "other servers measured like backends (`bench --server-cmd`): NAME=COMMAND,NAME=COMMAND, each command "
        "with {port} (and {host}, {cpus}), e.g. nginx='scripts/nginx-server {port} {host}'; without --backends only "
        "these are measured";
    const char* capacity_help =
        "SLO, e.g. p99<=1ms: each run is `bench capacity --slo=SLO`, the highest rate meeting it (its closed-loop "
        "probe's figures are the run's; summary and compare.py add capacity_rps)";
    const char* rates_help =
        "open-loop rates, e.g. 10%,50%,90%,120% of the closed-loop capacity each configuration measured first in "
        "this sweep (its closed-loop runs are added and run first), or requests per second, e.g. 20000; `closed` "
        "is the closed loop (default: closed loop only)";
    const char* builds_help =
        "same-machine A/B: NAME=BENCH,NAME=BENCH (two or more `bench` binaries); their runs alternate in a seeded "
        "random order, each build's results go to OUT/NAME/";
    return std::tuple{
        SpecField{.name = "backends", .member = &S::backends,
                  .flag = {.name = "--backends",
                           .help = "a list like epoll,io_uring; all: every backend but the opt-in ones (add them: "
                                   "all,io_uring+sqpoll)"}},
        SpecField{.name = "servers", .member = &S::servers,
                  .flag = {.name = "--servers", .help = servers_help, .show_default = false}},
        SpecField{.name = "clients", .member = &S::clients, .flag = {.name = "--clients", .help = "client counts"}},
        SpecField{.name = "message_sizes", .member = &S::message_sizes,
                  .flag = {.name = "--message-sizes", .help = "message sizes, bytes"}},
        SpecField{.name = "capacity", .member = &S::capacity,
                  .flag = {.name = "--capacity", .help = capacity_help, .show_default = false}},
        SpecField{.name = "rates", .member = &S::rates,
                  .flag = {.name = "--rates", .help = rates_help, .show_default = false}},
        SpecField{.name = "repetitions", .member = &S::repetitions,
                  .flag = {.name = "--repetitions", .help = "runs per configuration", .bounds = Bounds{1, 1000}}},
        SpecField{.name = "duration_s", .member = &S::duration_s,
                  .flag = {.name = "--duration", .help = "seconds measured per run", .bounds = Bounds{0.01, 86400}}},
        SpecField{.name = "warmup_s", .member = &S::warmup_s,
                  .flag = {.name = "--warmup", .help = "seconds of warm-up per run", .bounds = Bounds{0, 3600}}},
        SpecField{.name = "protocol", .member = &S::protocol,
                  .flag = {.name = "--protocol", .help = protocol_help(), .choices = protocol_names()}},
        SpecField{.name = "seed", .member = &S::seed,
                  .flag = {.name = "--seed", .help = "seed of the run order (default: random, recorded in sweep.json)",
                           .show_default = false}},
        SpecField{.name = "out", .member = &S::out,
                  .flag = {.name = "--out", .help = "directory for the results (re-running with the same one resumes)",
                           .show_default = false}},
        SpecField{.name = "builds", .member = &S::builds,
                  .flag = {.name = "--builds", .help = builds_help, .show_default = false}},
        SpecField{.name = "build_flags", .member = &S::build_flags,
                  .flag = {.name = "--build-flags",
                           .help = "NAME=FLAG: a flag for that build's runs only, e.g. current=--work-us=0.5 (repeatable)",
                           .show_default = false}},
    };
  }
};


// A `bench` binary the sweep measures. An ordinary sweep has one, unnamed: this binary.
struct SweepBuild {
  std::string name;                // "" for an ordinary sweep; else its directory under --out
  std::string binary;              // what each run execs
  std::vector<std::string> flags;  // added to this build's runs only (--build-flags)
};

// One build's share of a sweep: its runs (orders are positions in the whole sweep) and the
// directory it writes, an ordinary sweep directory that scripts/compare.py reads.
struct SweepTarget {
  SweepBuild build;
  std::filesystem::path dir;
  std::vector<SweepRun> runs;
};

// "1,10,100" -> {1, 10, 100}; throws UsageError naming FLAG when an item is not positive.
std::vector<std::size_t> parse_sizes(const std::string& flag, const std::string& text);
// --rates: "closed,20000,50%" -> {"", "20000", "50%"} ("" is the closed loop, which a percentage
// needs and which is then added first); "" -> {""}. Throws UsageError naming the bad item.
std::vector<std::string> parse_rates(const std::string& text);
// The open-loop rate of run `r` (req/s): its absolute rate, or its percentage of the median
// throughput of its configuration's complete closed-loop runs in `runs`; nullopt with `*why`
// when no such run completed.
std::optional<double> resolve_rate(const std::vector<SweepRun>& runs, const SweepRun& r, std::string* why);
// "" -> "", "20000" -> "-q20000rps", "50%" -> "-q50pct": the run id's part for its rate.
std::string rate_id(const std::string& rate);
// "all" or "epoll,poll" -> backend names; throws UsageError for an unknown backend.
std::vector<std::string> parse_backends(const std::string& text);
// --servers: "nginx=scripts/nginx-server {port},mine=./srv -p {port}" -> {name, command} in
// order. An item starts at a comma followed by NAME= (so a command may hold commas of its own);
// throws UsageError for a bad name (not plain, a backend's, repeated) or command (no {port}).
struct NamedServerCommand {
  std::string name, command;
};
std::vector<NamedServerCommand> parse_servers(const std::string& text);
// The --servers command named `name`; none for a backend of the registry.
std::optional<NamedServerCommand> find_server_command(const SweepOptions& o, const std::string& name);
// The flags that make `bench` measure command server `s`.
std::vector<std::string> server_command_flags(const NamedServerCommand& s);
// What the sweep measures: the backends of --backends, then the --servers by name.
std::vector<std::string> sweep_servers(const SweepOptions& o);
// --builds and --build-flags -> the builds; one unnamed build (this binary) without --builds.
// Throws UsageError for a malformed list, a duplicate name, a missing binary, or flags
// for a build that is not in the list.
std::vector<SweepBuild> parse_builds(const SweepOptions& o);

// The plan, new or resumed. New: every (configuration, repetition) unit once, units shuffled
// with the seed, and within each unit every build once in a seeded random order (blocked
// randomization: the builds alternate and drift favours none). Resumed: the plan and seed the
// sweep.json files recorded, which must describe the same grid and builds.
std::vector<SweepTarget> make_plan(SweepOptions& o);

// sweep.json of one build: grid, seed, its build (when named), environment, its runs.
nlohmann::ordered_json plan_json(const SweepOptions& o, const SweepTarget& target,
                                 const nlohmann::ordered_json& environment);

}  // namespace mux
