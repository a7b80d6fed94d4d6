// Judgements on a run's record: which side limited it, whether the two sides' request counts
// agree, and the warnings a reader must see before trusting its numbers.
#include <fmt/format.h>

#include "harness/results/report.hpp"
#include "harness/spec/slo.hpp"

namespace mux {
namespace {

SideCpu server_side(const RunOptions& o, const RunRecord& r) {
  return {.total_us = r.server_cpu_us, .threads = r.server_threads, .cores = o.server.cpus.size()};
}
SideCpu loadgen_side(const RunOptions& o, const RunRecord& r) {
  return {.total_us = r.loadgen_cpu_us, .threads = r.loadgen_threads, .cores = o.load.cpus.size()};
}

}  // namespace

std::string bottleneck(const RunOptions& o, const RunRecord& r) {
  return bottleneck_verdict(server_side(o, r), loadgen_side(o, r), r.measured_s);
}

std::optional<RequestCountCheck> request_count_check(const RunOptions& o, const RunRecord& r, std::string* why) {
  const auto& c = r.server_counters;
  if (!c.is_object() || !c.contains("requests") || !c["requests"].is_number_unsigned()) {
    if (why != nullptr)
      *why = !o.target.empty()       ? "bench load: the server is not started by bench and reports no count"
             : !o.server.command.empty() ? "a --server-cmd server reports no count"
             : c.is_object()   ? "the server does not count the requests of this protocol"
                               : "the server reported no counters (it ended before it was asked)";
    return std::nullopt;
  }
  return RequestCountCheck{.client_completed = r.load.completed_total,
                           .client_sent = r.load.sent_total,
                           .server_answered = c["requests"].get<std::uint64_t>()};
}

std::vector<std::string> warnings(const RunOptions& o, const RunRecord& r) {
  std::vector<std::string> w;
  if (const double enough = 1 - kAchievedRateTolerance;
      o.open_loop() && r.measured_s > 0 && r.throughput_rps() < enough * o.load.rate)
    w.push_back(fmt::format("achieved {:.0f} req/s, below {:.0f}% of the target {:.0f}: the latencies describe an "
                            "overloaded system",
                            r.throughput_rps(), 100 * enough, o.load.rate));
  if (const auto check = request_count_check(o, r); check && !check->ok())
    w.push_back(fmt::format("the server answered {} requests, outside what the client saw ({} replies completed, {} "
                            "requests sent in full): one side miscounts, so neither count can be trusted",
                            check->server_answered, check->client_completed, check->client_sent));
  const std::string who = bottleneck(o, r);
  if (who == "unknown" && !r.server_cpu_us && saturated(loadgen_side(o, r), r.measured_s).value_or(false))
    w.push_back("the load generator was saturated and the server's CPU is not measured: the throughput may be the "
                "load generator's limit, not the server's");
  if (who == "load_generator")
    w.push_back("the load generator, not the server, was saturated: the server can do more than this; give the "
                "load generator more cores (--client-cpus, --loadgen-threads) or use --pipeline");
  if (who == "both")
    w.push_back("server and load generator were both saturated: the throughput is a lower bound of the server's "
                "capacity; compare backends by server CPU per request");
  return w;
}

}  // namespace mux
