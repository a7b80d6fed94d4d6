// results' config: what was measured, as the flags asked for it and the run resolved it
// (declared in harness/results/report.hpp). The server's keys come from its field list.
#include <optional>
#include <string>

#include "core/echo_protocol.hpp"
#include "core/request_pattern.hpp"
#include "harness/results/report.hpp"
#include "harness/spec/server_spec.hpp"

namespace mux {

nlohmann::ordered_json config_json(const RunOptions& o, const RunRecord& r) {
  using nlohmann::ordered_json;
  std::optional<std::size_t> fixed_size;
  if (o.load.message_size.is_fixed()) fixed_size = largest_message_size(o.load.message_size);
  const ordered_json frame_size = o.load.protocol == "http" || !fixed_size ? ordered_json()
                                  : o.load.protocol == "echo"               ? ordered_json(*fixed_size + kEchoHeaderSize)
                                                                            : ordered_json(*fixed_size);
  ordered_json config = {{"backend", r.backend},
                         {"protocol", o.load.protocol},
                         {"load_model", o.open_loop() ? "open" : "closed"},
                         {"clients", o.load.clients},
                         // drawn: see the spec
                         {"message_size", fixed_size ? ordered_json(*fixed_size) : ordered_json()},
                         {"message_size_spec", o.load.message_size.to_string()},
                         {"frame_size", frame_size},
                         {"expect_body", o.load.expected_body ? ordered_json(*o.load.expected_body) : ordered_json()},
                         {"pipeline", o.load.pipeline},
                         {"rate", o.open_loop() ? ordered_json(o.load.rate) : ordered_json()},
                         {"arrival", o.open_loop() ? ordered_json(arrival_name(o.load.arrival)) : ordered_json()},
                         {"seed", o.load.seed},
                         {"idle_connections", o.load.idle},
                         {"churn", o.load.churn},
                         {"sources", o.sources},
                         {"duration_s", o.load.duration_s},
                         {"warmup_s", o.load.warmup_s},
                         {"timeout_s", o.load.timeout_s}};
  // The server's keys, from its field list (harness/spec/server_spec.cpp).
  const ServerFacts facts{.own_server = o.own_server(),
                          .address = r.server_address,
                          .target = o.target.empty() ? std::nullopt : std::optional(o.target_name),
                          .target_is_local = o.target.empty() || parse_target(o.target).is_local(),
                          .command_line = r.server_command,
                          .shape = r.server_shape};
  server_config_json(o.server, facts, config);
  config["client_cpus"] = o.load.cpus;
  config["loadgen_threads"] = o.load.threads;
  config["loadgen_processes"] = o.loadgen_processes;
  return config;
}

}  // namespace mux
