#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/latency_histogram.hpp"
#include "core/net.hpp"

namespace mux {

struct LoadConfig {
  SocketAddress target;
  std::size_t clients = 1;
  std::size_t threads = 1;
  CpuList cpus;                  // thread i is pinned to cpus[i % size]; empty: not pinned
  std::string protocol = "echo";
  std::size_t message_size = 128;
  std::optional<std::string> expected_body;  // http: the body each reply must carry; none: any
  std::size_t pipeline = 1;      // requests in flight per connection
  double warmup_s = 2;
  double duration_s = 10;
  double timeout_s = 5;          // a request unanswered this long is an error
  // Open loop (rate > 0): requests are sent on a schedule of `rate` per second in total, spread
  // evenly over the connections, whether or not earlier replies have come back (up to
  // `pipeline` in flight per connection; later ones wait and are late). 0: closed loop.
  double rate = 0;
  enum class Arrival { constant, poisson } arrival = Arrival::constant;
  std::uint64_t seed = 1;        // for Poisson arrivals
  std::size_t idle = 0;          // extra connections held open and silent beside the clients
  std::uint64_t churn = 0;       // close and reopen each connection after this many requests; 0: never
  std::vector<SocketAddress> sources;  // local addresses, round robin over connections; empty: any
};

// One second of the measured interval.
struct Interval {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  LatencyHistogram latency{6};   // 3% precision keeps an hour-long timeline small

  void merge(const Interval& o) {
    requests += o.requests;
    errors += o.errors;
    latency.merge(o.latency);
  }
};

struct ErrorCounts {
  std::uint64_t connect = 0;    // a connection could not be (re)opened
  std::uint64_t reset = 0;      // reset, or closed by the server, with requests outstanding
  std::uint64_t mismatch = 0;   // an echoed byte differed from the byte sent
  std::uint64_t timeout = 0;

  std::uint64_t total() const { return connect + reset + mismatch + timeout; }
  void add(const ErrorCounts& o) {
    connect += o.connect;
    reset += o.reset;
    mismatch += o.mismatch;
    timeout += o.timeout;
  }
};

// What one load thread measured; the generator merges them.
struct LoadResult {
  // Latency of requests completed in the measured interval, from the time each request was
  // meant to be sent (corrected for coordinated omission) and from the time it really was.
  // In a closed loop the two are the same.
  LatencyHistogram latency;
  LatencyHistogram latency_uncorrected;
  std::uint64_t requests = 0;       // the same count
  std::uint64_t bytes_verified = 0; // reply bytes compared with what was sent, same interval
  ErrorCounts errors;               // over the whole run, warm-up included
  std::uint64_t reconnects = 0;      // after errors
  std::uint64_t churn_connects = 0;  // --churn: connections replaced on purpose, measured interval
  LatencyHistogram connect_latency;  // --churn: connect() to established, measured interval
  std::vector<Interval> timeline;
  // Over the whole run, warm-up included, for the cross-check with the server's own count.
  std::uint64_t completed_total = 0;  // replies received and verified
  std::uint64_t sent_total = 0;       // requests written to the socket in full
  // CPU ns each load thread used in the measured interval (one entry per thread that measured).
  std::vector<std::uint64_t> thread_cpu_ns;

  void merge(const LoadResult& o) {
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    if (timeline.size() < o.timeline.size()) timeline.resize(o.timeline.size());
    for (std::size_t i = 0; i < o.timeline.size(); ++i) timeline[i].merge(o.timeline[i]);
    requests += o.requests;
    bytes_verified += o.bytes_verified;
    errors.add(o.errors);
    reconnects += o.reconnects;
    churn_connects += o.churn_connects;
    connect_latency.merge(o.connect_latency);
    completed_total += o.completed_total;
    sent_total += o.sent_total;
    thread_cpu_ns.insert(thread_cpu_ns.end(), o.thread_cpu_ns.begin(), o.thread_cpu_ns.end());
  }
};

}  // namespace mux
