#include "harness/sweep/sweep_plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "backends/backend.hpp"
#include "harness/spec/server_command_template.hpp"
#include "harness/spec/options.hpp"

namespace mux {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// "a,b,c" -> {"a", "b", "c"}; an empty text is one empty item.
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> items;
  for (std::size_t pos = 0; pos <= text.size();) {
    const std::size_t end = std::min(text.find(sep, pos), text.size());
    items.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return items;
}

// A build's name is a directory under --out: keep it plain.
bool valid_build_name(const std::string& name) {
  const auto plain = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; };
  return !name.empty() && name != "." && name != ".." && std::all_of(name.begin(), name.end(), plain);
}

ordered_json build_json(const SweepBuild& b) { return {{"name", b.name}, {"binary", b.binary}, {"flags", b.flags}}; }

// The same grid as sweep.json recorded (and, for a named build, the same build)?
bool same_sweep(const nlohmann::json& old, const SweepOptions& o, const SweepBuild& build) {
  const bool same_grid = old["backends"] == sweep_servers(o) &&
                         old.value("servers", std::string()) == o.servers &&
                         old["clients"] == parse_sizes("--clients", o.clients) &&
                         old["message_sizes"] == parse_sizes("--message-sizes", o.message_sizes) &&
                         old.value("rates", nlohmann::json::array({""})) == parse_rates(o.rates) &&
                         old.value("capacity", std::string()) == o.capacity &&
                         old["repetitions"] == o.repetitions && old["duration_s"] == o.duration_s &&
                         old["warmup_s"] == o.warmup_s && old["protocol"] == o.protocol &&
                         old["passthrough"] == o.passthrough;
  if (build.name.empty()) return same_grid && !old.contains("build");
  return same_grid && old.contains("build") && old["build"] == nlohmann::json(build_json(build));
}

std::vector<SweepRun> load_runs(const nlohmann::json& old) {
  std::vector<SweepRun> runs;
  for (const auto& j : old["runs"])
    runs.push_back({j["id"], j["backend"], j["clients"], j["message_size"], j["repetition"], j["order"],
                    j["status"], j.value("error", ""), nullptr, j.contains("rate") && j["rate"].is_string() ? j["rate"].get<std::string>() : ""});
  return runs;
}

std::vector<SweepTarget> resume_plan(SweepOptions& o, std::vector<SweepTarget> targets) {
  for (auto& t : targets) {
    const fs::path file = t.dir / "sweep.json";
    const auto old = nlohmann::json::parse(std::ifstream(file), nullptr, false);
    if (old.is_discarded()) throw UsageError(fmt::format("{} is not valid JSON; remove it or use another --out", file.string()));
    if (!same_sweep(old, o, t.build))
      throw UsageError(fmt::format("{} holds a different sweep; give the same flags to resume it, or another --out",
                                   t.dir.string()));
    o.seed = old["seed"];
    t.runs = load_runs(old);
  }
  return targets;
}

}  // namespace

std::vector<std::size_t> parse_sizes(const std::string& flag, const std::string& text) {
  std::vector<std::size_t> values;
  for (const std::string& item : split(text, ',')) {
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
      v = std::stoull(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    // Digits only: stoull takes a sign and wraps "-5" to 2^64 - 5.
    const bool digits = !item.empty() && std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || used == 0 || used != item.size() || v == 0)
      throw UsageError(fmt::format("{}={}: '{}' is not a positive number; write a list like 1,10,100", flag, text, item));
    values.push_back(v);
  }
  return values;
}

std::vector<std::string> parse_rates(const std::string& text) {
  if (text.empty()) return {""};
  std::vector<std::string> rates;
  bool percentages = false;
  for (const std::string& item : split(text, ',')) {
    std::string rate = item == "closed" ? "" : item;
    if (!rate.empty()) {
      const bool percent = rate.back() == '%';
      const std::string number = percent ? rate.substr(0, rate.size() - 1) : rate;
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(number, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != number.size() || !(v > 0) || v > (percent ? 1000 : 1e9))
        throw UsageError(fmt::format("--rates={}: '{}' is not a rate; write closed, requests per second (e.g. 20000) "
                                     "or a percentage of the closed-loop capacity (e.g. 50%, up to 1000%)",
                                     text, item));
      percentages = percentages || percent;
    }
    if (std::find(rates.begin(), rates.end(), rate) == rates.end()) rates.push_back(rate);
  }
  // A percentage is of the capacity the same sweep measured first, closed loop.
  if (percentages && std::find(rates.begin(), rates.end(), "") == rates.end()) rates.insert(rates.begin(), "");
  return rates;
}

std::string rate_id(const std::string& rate) {
  if (rate.empty()) return "";
  if (rate.back() == '%') return fmt::format("-q{}pct", rate.substr(0, rate.size() - 1));
  return fmt::format("-q{}rps", rate);
}

std::optional<double> resolve_rate(const std::vector<SweepRun>& runs, const SweepRun& r, std::string* why) {
  if (r.rate.empty()) return 0.0;
  if (r.rate.back() != '%') return std::stod(r.rate);
  std::vector<double> capacity;
  for (const SweepRun& c : runs)
    if (c.rate.empty() && c.status == "complete" && c.backend == r.backend && c.clients == r.clients &&
        c.message_size == r.message_size && c.result.is_object())
      capacity.push_back(c.result["results"]["throughput_rps"].get<double>());
  if (capacity.empty()) {
    *why = fmt::format("{} of the closed-loop capacity: no closed-loop run of {} at {} clients completed", r.rate,
                       r.backend, r.clients);
    return std::nullopt;
  }
  std::sort(capacity.begin(), capacity.end());
  const std::size_t n = capacity.size();
  const double median = n % 2 ? capacity[n / 2] : (capacity[n / 2 - 1] + capacity[n / 2]) / 2;
  return median * std::stod(r.rate.substr(0, r.rate.size() - 1)) / 100;
}

std::vector<std::string> parse_backends(const std::string& text) {
  std::vector<std::string> names;
  const auto add = [&](const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  // `all` is every entry but the opt-in ones; name those beside it: all,io_uring+sqpoll.
  for (const std::string& name : split(text, ',')) {
    if (name == "all") {
      for (const std::string& n : backends_in_all()) add(n);
      continue;
    }
    if (find_backend(name) == nullptr)
      throw UsageError(
          fmt::format("--backends: unknown backend '{}'; choose from {}, or all", name, backend_name_list()));
    add(name);
  }
  return names;
}

std::vector<NamedServerCommand> parse_servers(const std::string& text) {
  std::vector<NamedServerCommand> servers;
  const auto starts_item = [&](std::size_t at) {  // NAME= at `at`
    std::size_t end = at;
    while (end < text.size() && text[end] != '=' && text[end] != ',' && text[end] != ' ') ++end;
    return end < text.size() && text[end] == '=' && valid_build_name(text.substr(at, end - at));
  };
  std::size_t at = 0;
  while (at < text.size()) {
    if (!starts_item(at))
      throw UsageError(fmt::format("--servers: '{}' is not NAME=COMMAND (NAME of letters, digits, '-', '_', '.'); "
                                   "e.g. --servers=nginx='scripts/nginx-server {{port}} {{host}}'",
                                   text.substr(at)));
    std::size_t next = text.find(',', at);
    while (next != std::string::npos && !starts_item(next + 1)) next = text.find(',', next + 1);
    const std::string item = text.substr(at, next == std::string::npos ? std::string::npos : next - at);
    const auto eq = item.find('=');
    NamedServerCommand s{item.substr(0, eq), item.substr(eq + 1)};
    if (s.name == "all" || find_backend(s.name) != nullptr)
      throw UsageError(fmt::format("--servers: '{}' is a backend of bench; name the command's server differently", s.name));
    if (std::any_of(servers.begin(), servers.end(), [&](const auto& o) { return o.name == s.name; }))
      throw UsageError(fmt::format("--servers: '{}' is named twice", s.name));
    check_server_command(s.command, ServerTransport::either);  // the runs' flags decide which: checked with them
    servers.push_back(std::move(s));
    at = next == std::string::npos ? text.size() : next + 1;
  }
  return servers;
}

std::optional<NamedServerCommand> find_server_command(const SweepOptions& o, const std::string& name) {
  for (auto& s : parse_servers(o.servers))
    if (s.name == name) return std::move(s);
  return std::nullopt;
}

std::vector<std::string> server_command_flags(const NamedServerCommand& s) {
  ServerSpec spec;
  spec.command = s.command;
  spec.command_name = s.name;
  return server_arguments(spec, ServerCommand::run);
}

std::vector<std::string> sweep_servers(const SweepOptions& o) {
  // --servers alone measures those servers only; with --backends, both.
  std::vector<std::string> names = o.servers.empty() || o.backends_given ? parse_backends(o.backends) : std::vector<std::string>{};
  for (const auto& s : parse_servers(o.servers)) {
    if (std::find(names.begin(), names.end(), s.name) != names.end())
      throw UsageError(fmt::format("--servers: '{}' is also in --backends", s.name));
    names.push_back(s.name);
  }
  return names;
}

std::vector<SweepBuild> parse_builds(const SweepOptions& o) {
  std::vector<SweepBuild> builds;
  if (o.builds.empty()) {
    if (!o.build_flags.empty()) throw UsageError("--build-flags needs --builds=NAME=BENCH,NAME=BENCH to name the builds");
    return {{"", "/proc/self/exe", {}}};
  }
  for (const std::string& item : split(o.builds, ',')) {
    const std::size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (eq == std::string::npos || !valid_build_name(name) || eq + 1 == item.size())
      throw UsageError(fmt::format("--builds={}: '{}' is not NAME=PATH (NAME: letters, digits, - _ .); write e.g. "
                                   "--builds=base=/tmp/base/bench,current=build/bench",
                                   o.builds, item));
    const fs::path binary = fs::absolute(item.substr(eq + 1));
    if (::access(binary.c_str(), X_OK) != 0)
      throw UsageError(fmt::format("--builds: {}={} is not an executable file; build it first", name, binary.string()));
    if (std::any_of(builds.begin(), builds.end(), [&](const SweepBuild& b) { return b.name == name; }))
      throw UsageError(fmt::format("--builds: the name '{}' is given twice; give each build its own name", name));
    builds.push_back({name, binary.string(), {}});
  }
  if (builds.size() < 2) throw UsageError(fmt::format("--builds={}: name two or more builds to compare", o.builds));
  for (const std::string& item : o.build_flags) {
    const std::size_t eq = item.find('=');
    const std::string name = eq == std::string::npos ? item : item.substr(0, eq);
    auto it = std::find_if(builds.begin(), builds.end(), [&](const SweepBuild& b) { return b.name == name; });
    if (eq == std::string::npos || eq + 1 == item.size() || it == builds.end())
      throw UsageError(fmt::format("--build-flags={}: write NAME=FLAG with NAME one of --builds, e.g. "
                                   "--build-flags=current=--work-us=0.5",
                                   item));
    it->flags.push_back(item.substr(eq + 1));
  }
  return builds;
}

std::vector<SweepTarget> make_plan(SweepOptions& o) {
  std::vector<SweepTarget> targets;
  for (auto& b : parse_builds(o)) {
    const fs::path dir = b.name.empty() ? fs::path(o.out) : fs::path(o.out) / b.name;
    targets.push_back({std::move(b), dir, {}});
  }
  const auto recorded = std::count_if(targets.begin(), targets.end(),
                                      [](const SweepTarget& t) { return fs::exists(t.dir / "sweep.json"); });
  if (recorded == static_cast<std::ptrdiff_t>(targets.size())) return resume_plan(o, std::move(targets));
  if (recorded > 0)
    throw UsageError(fmt::format("{} holds a sweep of other builds (sweep.json in some build directories only); "
                                 "give the same --builds to resume it, or another --out",
                                 o.out));

  if (o.seed == 0) o.seed = std::random_device{}() | 1ULL;
  struct Unit {
    std::string backend;
    std::size_t clients, message_size;
    int repetition;
    std::string rate;
  };
  std::vector<Unit> units;
  const std::vector<std::string> rates = parse_rates(o.rates);
  for (const auto& b : sweep_servers(o))
    for (std::size_t c : parse_sizes("--clients", o.clients))
      for (std::size_t m : parse_sizes("--message-sizes", o.message_sizes))
        for (const std::string& rate : rates)
          for (int r = 0; r < o.repetitions; ++r) units.push_back({b, c, m, r, rate});
  std::mt19937_64 rng(o.seed);
  std::shuffle(units.begin(), units.end(), rng);
  // Percentages are of the closed-loop capacity: every closed-loop run goes first.
  const bool percentages = std::any_of(rates.begin(), rates.end(), [](auto& r) { return !r.empty() && r.back() == '%'; });
  if (percentages) std::stable_partition(units.begin(), units.end(), [](const Unit& u) { return u.rate.empty(); });
  std::vector<std::size_t> build_order(targets.size());
  std::iota(build_order.begin(), build_order.end(), 0);
  int order = 0;
  for (const Unit& u : units) {
    if (build_order.size() > 1) std::shuffle(build_order.begin(), build_order.end(), rng);
    for (std::size_t t : build_order)
      targets[t].runs.push_back({fmt::format("{}-c{}-m{}{}-r{}", u.backend, u.clients, u.message_size, rate_id(u.rate),
                                             u.repetition),
                                 u.backend, u.clients, u.message_size, u.repetition, order++, "pending", "", nullptr,
                                 u.rate});
  }
  return targets;
}

ordered_json plan_json(const SweepOptions& o, const SweepTarget& target, const ordered_json& environment) {
  ordered_json list = ordered_json::array();
  for (const auto& r : target.runs) {
    ordered_json j{{"id", r.id},         {"backend", r.backend},       {"clients", r.clients},
                   {"message_size", r.message_size}, {"rate", r.rate.empty() ? ordered_json() : ordered_json(r.rate)},
                   {"repetition", r.repetition}, {"order", r.order},
                   {"status", r.status}, {"file", fmt::format("runs/{}.json", r.id)}};
    if (!r.error.empty()) j["error"] = r.error;
    list.push_back(j);
  }
  ordered_json plan{{"schema_version", 1},        {"seed", o.seed},
                    {"repetitions", o.repetitions}, {"backends", sweep_servers(o)},
                    {"servers", o.servers},
                    {"clients", parse_sizes("--clients", o.clients)},
                    {"message_sizes", parse_sizes("--message-sizes", o.message_sizes)},
                    {"rates", parse_rates(o.rates)},
                    {"capacity", o.capacity},
                    {"duration_s", o.duration_s}, {"warmup_s", o.warmup_s},
                    {"protocol", o.protocol},     {"passthrough", o.passthrough}};
  if (!target.build.name.empty()) plan["build"] = build_json(target.build);
  plan["environment"] = environment;
  plan["runs"] = list;
  return plan;
}

}  // namespace mux
