#include "harness/spec/server_spec.hpp"

#include <type_traits>
#include <utility>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/protocol.hpp"
#include "core/request_pattern.hpp"
#include "core/request_work.hpp"
#include "harness/spec/cli_checks.hpp"
#include "harness/spec/options.hpp"
#include "harness/spec/server_command_template.hpp"
#include "harness/spec/transport.hpp"

namespace mux {
namespace {

using nlohmann::ordered_json;
using JsonWriter = std::function<void(const ServerSpec&, const ServerFacts&, ordered_json&)>;

// A field's value as its flag writes it, and back. A UsageError from reading it (a CPU list's)
// names the flag and the text, as every flag's errors do.
template <typename T>
std::string text_of(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) return value;
  else if constexpr (std::is_same_v<T, Distribution>) return value.to_string();
  else if constexpr (std::is_same_v<T, CpuList>) return format_cpu_list(value);
  else return fmt::format("{}", value);
}

template <typename T>
T value_of(const std::string& flag, const std::string& text) {
  try {
    if constexpr (std::is_same_v<T, std::string>) {
      return text;
    } else if constexpr (std::is_same_v<T, Distribution>) {
      return Distribution::parse(text);  // its validator let only good ones through
    } else if constexpr (std::is_same_v<T, CpuList>) {
      return text.empty() ? CpuList{} : parse_cpu_list(text);
    } else {
      T value{};
      if (!CLI::detail::lexical_cast(text, value)) throw UsageError("not a number");
      return value;
    }
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}={}: {}", flag, text, e.what()));
  }
}

template <typename T>
std::string type_name_of() {
  if constexpr (std::is_arithmetic_v<T>) return CLI::detail::type_name<T>();
  return "TEXT";
}

// How `bench serve` names, explains or checks a flag where it differs from `bench`.
struct ServeVariant {
  std::string names, help;
  std::optional<CLI::Validator> check;
};

// Every member has an initializer: a row names only what it needs.
struct FieldInfo {
  std::string flag{};
  unsigned uses = 0;
  std::string help{};
  std::optional<CLI::Validator> check{};
  bool show_default = true;  // "[default: ...]" in --help
  // Its value under this key of the JSON's config (null for a server bench did not start, for
  // a kOwnServerKnob); or what `json` writes.
  std::string json_key{};
  JsonWriter json{};
  std::optional<ServeVariant> serve{};
};

// The field `get(spec)` (a reference to its member) described by `info`.
template <typename Get>
ServerField make_field(Get get, FieldInfo info) {
  using T = std::remove_cvref_t<decltype(get(std::declval<ServerSpec&>()))>;
  ServerField field{info.flag, info.uses, {}, [get](const ServerSpec& s) { return text_of(get(s)); }, info.json};
  if (!field.json && !info.json_key.empty())
    field.json = [get, key = info.json_key, own = (info.uses & kOwnServerKnob) != 0](
                     const ServerSpec& s, const ServerFacts& facts, ordered_json& config) {
      if (own && !facts.own_server) config[key] = nullptr;
      else if constexpr (std::is_same_v<T, Distribution>) config[key] = get(s).to_string();
      else config[key] = get(s);
    };
  field.bind = [get, info](CLI::App& app, ServerSpec& spec, ServerCommand command) {
    const bool serve = command == ServerCommand::serve && info.serve;
    T& value = get(spec);
    CLI::Option* option = app.add_option_function<std::string>(
        serve ? info.serve->names : info.flag,
        [&value, flag = info.flag](const std::string& text) { value = value_of<T>(flag, text); },
        serve ? info.serve->help : info.help);
    option->type_name(type_name_of<T>());
    if (const auto& check = serve ? info.serve->check : info.check) option->check(*check);
    if (info.show_default) option->default_str(text_of(value));
  };
  return field;
}

template <typename T>
ServerField field(T ServerSpec::*member, FieldInfo info) {
  return make_field([member](auto& s) -> auto& { return s.*member; }, std::move(info));
}

template <typename T>
ServerField knob(T ServerKnobs::*member, FieldInfo info) {
  return make_field([member](auto& s) -> auto& { return s.knobs.*member; }, std::move(info));
}

// "--read-size" -> "read_size": a knob's key in the JSON.
std::string json_key_of(std::string_view flag) {
  std::string key(flag.substr(2));
  for (char& c : key)
    if (c == '-') c = '_';
  return key;
}

std::vector<std::string> backend_names(bool with_all) {
  std::vector<std::string> names;
  for (const auto& entry : backend_registry()) names.emplace_back(entry.name);
  if (with_all) names.emplace_back("all");
  return names;
}

constexpr const char* kWorkHelp =
    "microseconds of CPU the server burns per request answered: simulated application work (a busy-wait on its "
    "core). Compares I/O models when requests cost more than their I/O, and tells a saturated load generator "
    "from a saturated server. N, or drawn per request (echo only) from uniform:A-B, exp:MEAN or bimodal:P:A:B "
    "(a fraction P of the requests take A, the others B); drawn, the latency is also reported for the requests "
    "at or below the median work and above it";

constexpr const char* kServerCmdHelp =
    "run this command as the server instead of a backend: {port} (required), {host} and {cpus} are filled in; it "
    "runs in its own process group pinned to --server-cpus, must stay in the foreground and listen on "
    "{host}:{port} (with --transport=unix: on the socket {path}, required instead); its whole process tree's CPU "
    "and kernel counters are measured";

// Where the server was reached: the address it listened on, and `bench load`'s --target.
void address_json(const ServerSpec&, const ServerFacts& facts, ordered_json& config) {
  config["server_address"] = facts.address;
  config["target"] = facts.target ? ordered_json(*facts.target) : ordered_json();
  config["target_is_local"] = facts.target_is_local;
}

// The work a server of bench's burns; `bench load`'s drawn work as it was told (--work-us).
// Drawn work has no single number: its spec says how.
void work_json(const ServerSpec& s, const ServerFacts& facts, ordered_json& config) {
  config["server_work_us"] = facts.own_server && s.work_us.is_fixed() ? ordered_json(s.work_us.mean()) : ordered_json();
  config["server_work_spec"] = facts.own_server || (facts.target && !s.work_us.is_fixed())
                                   ? ordered_json(s.work_us.to_string())
                                   : ordered_json();
}

// --server-cmd: the command as it ran, its placeholders filled in.
void command_json(const ServerSpec&, const ServerFacts& facts, ordered_json& config) {
  config["server_command"] = facts.command_line.empty() ? ordered_json() : ordered_json(facts.command_line);
}

// The shape as the backend resolved it (null for a server bench did not start).
template <typename Of>
JsonWriter shape_json(const char* key, Of of) {
  return [key, of](const ServerSpec&, const ServerFacts& facts, ordered_json& config) {
    config[key] = facts.shape ? ordered_json(of(*facts.shape)) : ordered_json();
  };
}

constexpr unsigned kBoth = kRunFlag | kServeFlag;
constexpr unsigned kKnob = kRunFlag | kServeFlag | kOwnServerKnob;

// The list, in three parts. Its order is the flags' in --help and the keys' in the JSON's config.

// Which server, and where it listens.
void add_placement_fields(std::vector<ServerField>& f) {
  f.push_back(field(&ServerSpec::backend,
                    {.flag = "--backend",
                     .uses = kBoth,
                     .help = "I/O model of the server; all: every backend but the opt-in ones, each in turn (a backend "
                             "that cannot run here or with these --server-* flags is skipped, saying why)",
                     .check = CLI::IsMember(backend_names(true)),
                     .serve = ServeVariant{"--backend", "I/O model", CLI::IsMember(backend_names(false))}}));
  f.push_back(field(&ServerSpec::protocol, {.flag = "--protocol", .uses = kServeFlag, .help = protocol_help(),
                                            .check = CLI::IsMember(protocol_names())}));
  f.push_back(field(&ServerSpec::transport,
                    {.flag = "--transport",
                     .uses = kBoth,
                     .help = "tcp, or unix: a Unix domain stream socket, which leaves out TCP/IP's cost so the I/O "
                             "model's own cost stands alone (--host, --port and --sources do not apply)",
                     .check = CLI::IsMember({kTransportTcp, kTransportUnix}),
                     .json_key = "transport"}));
  f.push_back(field(&ServerSpec::socket_path,
                    {.flag = "--socket-path",
                     .uses = kBoth,
                     .help = "--transport=unix: the socket file the server creates (and removes when it stops); "
                             "default: one in a new private directory under $TMPDIR or /tmp, removed with it",
                     .check = Utf8Text(),
                     .show_default = false}));
  f.push_back(field(&ServerSpec::host,
                    {.flag = "--host",
                     .uses = kBoth,
                     .help = "address the server binds and the clients connect to; 0.0.0.0 or :: bind every local "
                             "address, and the clients then connect to 127.0.0.1 or ::1",
                     .check = Utf8Text(),
                     .json = address_json,
                     .serve = ServeVariant{"--host", "address to bind: 127.0.0.1, ::1, 0.0.0.0 or :: (every local "
                                                     "address), or an address of one of this machine's interfaces",
                                           std::nullopt}}));
  f.push_back(field(&ServerSpec::port, {.flag = "--port", .uses = kBoth, .help = "server port; 0 picks a free one",
                                        .check = CLI::Range(0, 65535)}));
  f.push_back(field(&ServerSpec::cpus,
                    {.flag = "--server-cpus",
                     .uses = kBoth,
                     .help = "cores for the server process, e.g. 0 or 0-1 (default: first half)",
                     .show_default = false,
                     .json_key = "server_cpus",
                     .serve = ServeVariant{"--server-cpus,--cpus",
                                           "cores to pin the server to, e.g. 0 or 0-1 (--cpus: the same)", std::nullopt}}));
}

// --server-cmd: any server as a backend.
void add_command_fields(std::vector<ServerField>& f) {
  f.push_back(field(&ServerSpec::command, {.flag = "--server-cmd",
                                           .uses = kRunFlag,
                                           .help = kServerCmdHelp,
                                           .check = Utf8Text(),
                                           .show_default = false,
                                           .json = command_json}));
  f.push_back(field(&ServerSpec::command_name,
                    {.flag = "--server-name",
                     .uses = kRunFlag,
                     .help = "--server-cmd: its name in the table and the JSON (default: the command's program name)",
                     .check = Utf8Text(),
                     .show_default = false}));
  f.push_back(field(&ServerSpec::start_timeout_s,
                    {.flag = "--server-start-timeout",
                     .uses = kRunFlag,
                     .help = "--server-cmd: seconds to wait until it accepts connections",
                     .check = FiniteRange(0.1, 3600.0)}));
}

// How bench's own server serves: its backlog, its work per request, its knobs and its shape.
void add_knob_fields(std::vector<ServerField>& f) {
  f.push_back(field(&ServerSpec::backlog, {.flag = "--backlog",
                                           .uses = kServeFlag,
                                           .help = "listen backlog (the kernel caps it at net.core.somaxconn)",
                                           .check = CLI::Range(1, 1 << 20)}));
  f.push_back(field(&ServerSpec::work_us, {.flag = "--work-us",
                                           .uses = kKnob,
                                           .help = kWorkHelp,
                                           .check = DistributionWithin(0, kMaxWorkUs, false),
                                           .json = work_json}));
#define MUX_KNOB_FIELD(type, member, default_value, flag_name, check_expression, help_text)                        \
  f.push_back(knob(&ServerKnobs::member, {.flag = flag_name, .uses = kKnob, .help = help_text,                     \
                                          .check = check_expression, .json_key = json_key_of(flag_name)}));
  MUX_SERVER_KNOBS(MUX_KNOB_FIELD)
#undef MUX_KNOB_FIELD
  f.push_back(field(&ServerSpec::threads,
                    {.flag = "--server-threads",
                     .uses = kKnob,
                     .help = "event loops in each server process, loop i pinned to the i-th server CPU (round-robin); "
                             "default: one per server CPU",
                     .check = CLI::Range(1, 4096),
                     .show_default = false,
                     .json = shape_json("server_threads", [](const ServerShape& s) { return s.threads; })}));
  f.push_back(field(&ServerSpec::processes,
                    {.flag = "--server-processes",
                     .uses = kKnob,
                     .help = "server worker processes, each with its loops (nginx's model); the fd limit applies to each",
                     .check = CLI::Range(1, 4096),
                     .show_default = false,
                     .json = shape_json("server_processes", [](const ServerShape& s) { return s.processes; })}));
  f.push_back(field(&ServerSpec::accept,
                    {.flag = "--accept",
                     .uses = kKnob,
                     .help = "how several loops get connections: reuseport (an SO_REUSEPORT listener per loop), shared "
                             "(one listener every loop watches), handoff (one acceptor hands each connection to the "
                             "loop with the fewest open); default: reuseport",
                     .check = CLI::IsMember({"reuseport", "shared", "handoff"}),
                     .show_default = false,
                     .json = shape_json("accept", [](const ServerShape& s) { return accept_mode_name(s.accept); })}));
}

std::vector<ServerField> make_fields() {
  std::vector<ServerField> fields;
  add_placement_fields(fields);
  add_command_fields(fields);
  add_knob_fields(fields);
  return fields;
}

// --server-cmd: any server as a backend. `bench`'s own server flags do not reach it.
void finish_server_command(const CLI::App& app, ServerSpec& s) {
  if (s.command.empty()) {
    if (!s.command_name.empty()) throw UsageError("--server-name names a --server-cmd server; give --server-cmd too");
    return;
  }
  if (app.count("--backend") > 0)
    throw UsageError("--server-cmd replaces --backend: give one of them (the name in the table is --server-name)");
  for (const ServerField& f : server_fields())
    if ((f.uses & kOwnServerKnob) != 0 && (f.uses & kRunFlag) != 0 && app.count(f.flag) > 0)
      throw UsageError(fmt::format("{} configures bench's own servers, not a --server-cmd one: pass the equivalent "
                                   "to the command itself, or drop {}",
                                   f.flag, f.flag));
  check_server_command(s.command, s.transport == kTransportUnix ? ServerTransport::unix_socket : ServerTransport::tcp);
  s.backend = s.command_name.empty() ? server_command_name(s.command) : s.command_name;
  if (s.backend == "all" || find_backend(s.backend) != nullptr)
    throw UsageError(fmt::format("--server-name={}: a backend of bench has that name; name the command's server "
                                 "differently with --server-name",
                                 s.backend));
}

}  // namespace

const std::vector<ServerField>& server_fields() {
  static const std::vector<ServerField> fields = make_fields();
  return fields;
}

void add_server_flags(CLI::App& app, ServerSpec& spec, ServerCommand command) {
  const unsigned use = command == ServerCommand::run ? kRunFlag : kServeFlag;
  for (const ServerField& f : server_fields())
    if ((f.uses & use) != 0) f.bind(app, spec, command);
}

void finish_server_flags(const CLI::App& app, ServerSpec& spec, ServerCommand command) {
  if (command == ServerCommand::run) finish_server_command(app, spec);
  check_transport_flags(app, spec.transport, spec.socket_path);
  if (spec.transport != kTransportUnix) check_local_host(spec.host);  // throws a UsageError naming the problem
}

std::vector<std::string> server_arguments(const ServerSpec& spec, ServerCommand command) {
  static const ServerSpec defaults;
  const unsigned use = command == ServerCommand::run ? kRunFlag : kServeFlag;
  std::vector<std::string> args;
  for (const ServerField& f : server_fields())
    if ((f.uses & use) != 0 && f.text(spec) != f.text(defaults)) args.push_back(f.flag + "=" + f.text(spec));
  return args;
}

void server_config_json(const ServerSpec& spec, const ServerFacts& facts, ordered_json& config) {
  for (const ServerField& f : server_fields())
    if (f.json) f.json(spec, facts, config);
}

}  // namespace mux
