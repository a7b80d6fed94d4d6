#pragma once
// The server's configuration, and its one field list (server_fields(), in server_spec.cpp).
// Each field is written once there: its flag, help, default (ServerSpec's), check, how its value
// reads and writes as text, and its keys in the result JSON. From the list come:
//  - the flags: `bench` and `bench capacity` (and through them the runs of `bench sweep`) and
//    `bench serve` bind them with add_server_flags();
//  - the server child's command line: server_arguments() writes the flags `bench serve` parses
//    back with that same binding (and those of a sweep's --servers runs);
//  - the --server-cmd refusal of bench's own server knobs (refuse_own_server_knobs());
//  - the server's keys in the result JSON's config (server_config_json()).
// The knobs the backends read are rows of backends/server_knobs.hpp, which this list includes.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.hpp"
#include "backends/server_knobs.hpp"
#include "core/cpu_set.hpp"
#include "core/distribution.hpp"
#include "harness/spec/server_shape.hpp"

namespace CLI {
class App;
}

namespace mux {

struct ServerSpec {
  // A backend of the registry. `bench`: or "all"; with --server-cmd, the command's name
  // (--server-name); `bench load`: the target's label.
  std::string backend{default_backend_name()};
  std::string protocol = "echo";  // `bench`: its load's --protocol
  std::string transport = "tcp";  // "tcp" or "unix" (harness/spec/transport.hpp)
  std::string socket_path;        // unix: --socket-path; `bench` fills in a private directory's
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;         // 0: a free port, chosen by the kernel
  CpuList cpus;                   // `bench`: the first half of its CPUs unless given; `bench serve`: none, all
  // --server-cmd: the server is this command (a template, harness/server/command_server.hpp),
  // not a registry backend.
  std::string command;
  std::string command_name;       // --server-name (becomes `backend`)
  double start_timeout_s = 10;    // until a --server-cmd server accepts
  int backlog = 4096;             // `bench` sets its server's from --clients
  Distribution work_us = 0;       // simulated application work per request, µs: fixed or drawn
  ServerKnobs knobs;              // what the backends read: --read-size, --zc-threshold...
  // The server's shape as asked for (resolve_server_shape() makes it the backend's):
  std::size_t threads = 0;        // 0: one loop per server CPU
  std::size_t processes = 0;      // 0: one process
  std::string accept;             // "": reuseport, or the backend's only mode

  bool operator==(const ServerSpec&) const = default;
};

// The commands that bind the server's flags.
enum class ServerCommand {
  run,    // `bench`, `bench capacity` (and `bench sweep`'s runs, which are these)
  serve,  // `bench serve`
};

// What a field is (bits of ServerField::uses).
enum ServerFieldUse : unsigned {
  kRunFlag = 1u << 0,    // `bench` and `bench capacity` take its flag
  kServeFlag = 1u << 1,  // `bench serve` takes its flag: bench's server child is given it
  // Configures bench's own servers only: refused with --server-cmd, and null in the JSON for a
  // server bench did not start (--server-cmd, `bench load`).
  kOwnServerKnob = 1u << 2,
};

// What the run knows of its server beside the spec, written into the JSON with it.
struct ServerFacts {
  bool own_server = true;                // bench started a backend of its own
  std::string address{};                 // where the server listened (config.server_address)
  std::optional<std::string> target{};   // `bench load`: --target as given
  bool target_is_local = true;
  std::string command_line{};            // --server-cmd: the command as run
  std::optional<ServerShape> shape{};    // bench's own server: its loops, processes, accept design
};

struct ServerField {
  std::string flag;  // its name on the command line, e.g. "--read-size"
  unsigned uses;     // ServerFieldUse bits
  // Adds the flag to `app`, bound to its member of `spec`.
  std::function<void(CLI::App& app, ServerSpec& spec, ServerCommand command)> bind;
  // Its value as the flag takes it: what bind() reads back into an equal value.
  std::function<std::string(const ServerSpec& spec)> text;
  // Writes its keys into the JSON's config; empty: it has none.
  std::function<void(const ServerSpec& spec, const ServerFacts& facts, nlohmann::ordered_json& config)> json;
};

// The list, in the order of the flags in --help and of the keys in the JSON.
const std::vector<ServerField>& server_fields();

// Binds the flags `command` takes.
void add_server_flags(CLI::App& app, ServerSpec& spec, ServerCommand command);
// After parsing: checks across the server's flags (the transport's, --host, --server-cmd's),
// throwing UsageError naming the fix; --server-cmd's name becomes spec.backend.
void finish_server_flags(const CLI::App& app, ServerSpec& spec, ServerCommand command);
// The flags that give `command` this spec: each of its flags whose value is not the default.
// `bench serve`'s are what bench starts its server child with; `bench`'s, a sweep's runs'.
std::vector<std::string> server_arguments(const ServerSpec& spec, ServerCommand command);
// The server's keys of the JSON's config, in the list's order.
void server_config_json(const ServerSpec& spec, const ServerFacts& facts, nlohmann::ordered_json& config);

}  // namespace mux
