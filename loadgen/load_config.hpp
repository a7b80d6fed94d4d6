#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/distribution.hpp"
#include "core/latency_histogram.hpp"
#include "core/net.hpp"

namespace mux {

struct LoadConfig {
  SocketAddress target;
  std::size_t clients = 100;
  std::size_t threads = 0;       // 0: one (the CLI makes it one per core of --client-cpus)
  CpuList cpus;                  // thread i is pinned to cpus[i % size]; empty: not pinned
  std::string protocol = "echo";
  Distribution message_size = 128;  // echo, raw: payload bytes, fixed or drawn per request
  // `bench`: the server's work per request (--work-us). Drawn, it splits the latency into the
  // requests of short and of long work (request_work.hpp); `bench load` does not know it: 0.
  Distribution work_us = 0;
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
  std::uint64_t seed = 1;        // Poisson arrivals, drawn sizes and the payloads' bytes
  std::size_t idle = 0;          // extra connections held open and silent beside the clients
  std::uint64_t churn = 0;       // close and reopen each connection after this many requests; 0: never
  std::vector<SocketAddress> sources;  // local addresses, round robin over connections; empty: any
};

// --arrival's names, also written in the JSON.
inline const char* arrival_name(LoadConfig::Arrival arrival) {
  return arrival == LoadConfig::Arrival::poisson ? "poisson" : "constant";
}

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
  // Drawn work (LoadConfig::work_us): the corrected latency of the requests whose work is at or
  // below the distribution's median [0] and above it [1]; empty when the work is not drawn.
  std::vector<LatencyHistogram> latency_by_work_class;
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
  std::vector<std::uint64_t> thread_waiting_ns;  // each thread's run-queue wait (schedstat), same order

  void merge(const LoadResult& o) {
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    if (latency_by_work_class.size() < o.latency_by_work_class.size())
      latency_by_work_class.resize(o.latency_by_work_class.size());
    for (std::size_t i = 0; i < o.latency_by_work_class.size(); ++i)
      latency_by_work_class[i].merge(o.latency_by_work_class[i]);
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
    thread_waiting_ns.insert(thread_waiting_ns.end(), o.thread_waiting_ns.begin(), o.thread_waiting_ns.end());
  }
};

}  // namespace mux
