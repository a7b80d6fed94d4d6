// results' config: what was measured, as the flags asked for it and the run resolved it
// (declared in harness/results/report.hpp). The server's keys come from its field list.
#include <optional>
#include <string>

#include "core/echo_protocol.hpp"
#include "core/request_pattern.hpp"
#include "harness/results/report.hpp"
#include "harness/spec/server_spec.hpp"
#include "loadgen/load_wire.hpp"

namespace mux {

nlohmann::ordered_json config_json(const RunOptions& o, const RunRecord& r) {
  using nlohmann::ordered_json;
  std::optional<std::size_t> fixed_size;
  if (o.load.message_size.is_fixed()) fixed_size = largest_message_size(o.load.message_size);
  const ordered_json frame_size = o.load.protocol == "http" || !fixed_size ? ordered_json()
                                  : o.load.protocol == "echo"               ? ordered_json(*fixed_size + kEchoHeaderSize)
                                                                            : ordered_json(*fixed_size);
  // The load's fields by result name (LoadConfig::fields()); one named since comes after the rest.
  const nlohmann::json load = result_echo(o.load);
  ordered_json config = {{"backend", r.backend},
                         {"protocol", load.at("protocol")},
                         {"load_model", o.open_loop() ? "open" : "closed"},
                         {"clients", load.at("clients")},
                         // drawn: see the spec
                         {"message_size", fixed_size ? ordered_json(*fixed_size) : ordered_json()},
                         {"message_size_spec", load.at("message_size_spec")},
                         {"frame_size", frame_size},
                         {"expect_body", load.at("expect_body")},
                         {"pipeline", load.at("pipeline")},
                         {"rate", o.open_loop() ? ordered_json(o.load.rate) : ordered_json()},
                         {"arrival", o.open_loop() ? ordered_json(name_of(o.load.arrival)) : ordered_json()},
                         {"seed", load.at("seed")},
                         {"idle_connections", load.at("idle_connections")},
                         {"churn", load.at("churn")},
                         {"sources", o.sources},
                         {"duration_s", load.at("duration_s")},
                         {"warmup_s", load.at("warmup_s")},
                         {"timeout_s", load.at("timeout_s")}};
  // The server's keys, from its field list (harness/spec/server_spec.cpp).
  const ServerFacts facts{.own_server = o.own_server(),
                          .address = r.server_address,
                          .target = o.target.empty() ? std::nullopt : std::optional(o.target_name),
                          .target_is_local = o.target.empty() || parse_target(o.target).is_local(),
                          .command_line = r.server_command,
                          .shape = r.server_shape};
  server_config_json(o.server, facts, config);
  config["client_cpus"] = load.at("client_cpus");
  config["loadgen_threads"] = load.at("loadgen_threads");
  config["loadgen_processes"] = o.loadgen_processes;
  for (const auto& [key, value] : load.items())
    if (!config.contains(key)) config[key] = value;
  return config;
}

}  // namespace mux
