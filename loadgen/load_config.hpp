#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/cpu_set.hpp"
#include "core/distribution.hpp"
#include "core/latency_histogram.hpp"
#include "core/net.hpp"
#include "core/protocol.hpp"
#include "core/request_pattern.hpp"
#include "loadgen/field_list.hpp"

namespace mux {

// The load, its fields listed once (fields(), below): the CLI binds their flags, the load
// processes and MPI ranks receive it as JSON, and the result JSON records it, all from the list.
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
  // --loadgen-io: how the load threads wait, send and receive (loadgen/load_thread.hpp); all
  // else they do is the same. `automatic` is settled before the run (resolve_loadgen_io()):
  // io_uring where this kernel allows it (loadgen/uring_probe.hpp), else epoll.
  enum class Io { automatic, epoll, io_uring } io = Io::automatic;
  std::optional<std::string> io_fallback;  // automatic, and io_uring cannot run here: why epoll runs

  // Each field once: its wire name, its flag (in --help's order) and its name in the result's
  // config. Fields without a flag are set by the run: target, cpus (--client-cpus), work_us
  // (the server's --work-us), expected_body and sources (planned from --sources).
  static auto fields() {
    using C = LoadConfig;
    return std::tuple{
        SpecField{.name = "protocol", .member = &C::protocol,
                  .flag = {.name = "--protocol", .help = protocol_help(), .choices = protocol_names()},
                  .result = "protocol"},
        SpecField{.name = "clients", .member = &C::clients,
                  .flag = {.name = "--clients", .help = "concurrent connections", .bounds = Bounds{1, 10'000'000}},
                  .result = "clients"},
        SpecField{.name = "message_size", .member = &C::message_size,
                  .flag = {.name = "--message-size",
                           .help = "echo and raw: payload bytes per message (echo adds a 4-byte length header): N, or "
                                   "drawn per request (under --seed) from uniform:A-B, exp:MEAN (clamped to "
                                   "1..1048576) or bimodal:P:A:B",
                           .bounds = Bounds{1, kMaxMessageSize}, .whole = true},
                  .result = "message_size_spec"},
        SpecField{.name = "pipeline", .member = &C::pipeline,
                  .flag = {.name = "--pipeline", .help = "requests in flight per connection", .bounds = Bounds{1, 1024}},
                  .result = "pipeline"},
        SpecField{.name = "rate", .member = &C::rate,
                  .flag = {.name = "--rate",
                           .help = "open loop: requests per second in total, sent on schedule whether or not replies "
                                   "have come back; latency is measured from when each request was due. 0: closed loop",
                           .bounds = Bounds{0, 1e9}}},
        SpecField{.name = "arrival", .member = &C::arrival,
                  .flag = {.name = "--arrival", .help = "open-loop schedule: evenly spaced, or Poisson arrivals"}},
        SpecField{.name = "seed", .member = &C::seed,
                  .flag = {.name = "--seed",
                           .help = "seed for Poisson arrivals, drawn message sizes and the payloads' bytes (and so "
                                   "drawn work); 1 sends the bytes earlier versions sent"},
                  .result = "seed"},
        SpecField{.name = "idle", .member = &C::idle,
                  .flag = {.name = "--idle",
                           .help = "extra connections held open and silent beside the clients (Brecht et al.'s "
                                   "experiment: select and poll pay for every watched fd)",
                           .bounds = Bounds{0, 10'000'000}},
                  .result = "idle_connections"},
        SpecField{.name = "churn", .member = &C::churn,
                  .flag = {.name = "--churn",
                           .help = "close each connection after this many requests and open a new one (measures "
                                   "connect + accept); 0: keep connections",
                           .bounds = Bounds{0, 1'000'000'000}},
                  .result = "churn"},
        SpecField{.name = "duration_s", .member = &C::duration_s,
                  .flag = {.name = "--duration", .help = "seconds measured", .bounds = Bounds{0.01, 86400.0}},
                  .result = "duration_s"},
        SpecField{.name = "warmup_s", .member = &C::warmup_s,
                  .flag = {.name = "--warmup", .help = "seconds of load before measuring (discarded)",
                           .bounds = Bounds{0.0, 3600.0}},
                  .result = "warmup_s"},
        SpecField{.name = "timeout_s", .member = &C::timeout_s,
                  .flag = {.name = "--timeout",
                           .help = "seconds a request may stay unanswered before it counts as an error",
                           .bounds = Bounds{0.01, 3600.0}},
                  .result = "timeout_s"},
        SpecField{.name = "threads", .member = &C::threads,
                  .flag = {.name = "--loadgen-threads", .help = "load generator threads (default: one per client CPU)",
                           .bounds = Bounds{1, 1024}, .show_default = false},
                  .result = "loadgen_threads"},
        SpecField{.name = "io", .member = &C::io,
                  .flag = {.name = "--loadgen-io",
                           .help = "the load generator's I/O model: io_uring (multishot recv into provided buffers, a "
                                   "batch's sends in one submit: fewer system calls per request) or epoll; all else it "
                                   "does is the same. auto: io_uring where this kernel allows it, else epoll, saying why"},
                  .result = "loadgen_io"},
        SpecField{.name = "io_fallback", .member = &C::io_fallback, .result = "loadgen_io_fallback"},
        SpecField{.name = "target", .member = &C::target},
        SpecField{.name = "cpus", .member = &C::cpus, .result = "client_cpus"},
        SpecField{.name = "work_us", .member = &C::work_us},
        SpecField{.name = "expected_body", .member = &C::expected_body, .result = "expect_body"},
        SpecField{.name = "sources", .member = &C::sources},
    };
  }
};

// --arrival's names, also written in the JSON.
constexpr std::array<std::pair<LoadConfig::Arrival, const char*>, 2> names_of(LoadConfig::Arrival) {
  return {{{LoadConfig::Arrival::constant, "constant"}, {LoadConfig::Arrival::poisson, "poisson"}}};
}

// --loadgen-io's names ("auto" never reaches the JSON: it is settled before the run).
constexpr std::array<std::pair<LoadConfig::Io, const char*>, 3> names_of(LoadConfig::Io) {
  return {{{LoadConfig::Io::automatic, "auto"}, {LoadConfig::Io::epoll, "epoll"}, {LoadConfig::Io::io_uring, "io_uring"}}};
}

// One second of the measured interval.
struct Interval {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  LatencyHistogram latency{6};   // 3% precision keeps an hour-long timeline small

  static auto fields() {
    return std::tuple{RecordField{.name = "requests", .member = &Interval::requests},
                      RecordField{.name = "errors", .member = &Interval::errors},
                      RecordField{.name = "latency", .member = &Interval::latency}};
  }
};

struct ErrorCounts {
  std::uint64_t connect = 0;    // a connection could not be (re)opened
  std::uint64_t reset = 0;      // reset, or closed by the server, with requests outstanding
  std::uint64_t mismatch = 0;   // an echoed byte differed from the byte sent
  std::uint64_t timeout = 0;

  std::uint64_t total() const { return connect + reset + mismatch + timeout; }

  static auto fields() {
    using E = ErrorCounts;
    return std::tuple{RecordField{.name = "connect", .member = &E::connect},
                      RecordField{.name = "reset", .member = &E::reset},
                      RecordField{.name = "mismatch", .member = &E::mismatch},
                      RecordField{.name = "timeout", .member = &E::timeout}};
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

  // Each field once: its wire name and how the records of several threads or processes merge
  // (exactly: histograms counter by counter, as if one thread had recorded every request).
  static auto fields() {
    using R = LoadResult;
    return std::tuple{
        RecordField{.name = "latency", .member = &R::latency},
        RecordField{.name = "latency_uncorrected", .member = &R::latency_uncorrected},
        RecordField{.name = "latency_by_work_class", .member = &R::latency_by_work_class, .merge = Merge::by_index},
        RecordField{.name = "requests", .member = &R::requests},
        RecordField{.name = "bytes_verified", .member = &R::bytes_verified},
        RecordField{.name = "errors", .member = &R::errors},
        RecordField{.name = "reconnects", .member = &R::reconnects},
        RecordField{.name = "churn_connects", .member = &R::churn_connects},
        RecordField{.name = "connect_latency", .member = &R::connect_latency},
        RecordField{.name = "timeline", .member = &R::timeline, .merge = Merge::by_index},
        RecordField{.name = "completed_total", .member = &R::completed_total},
        RecordField{.name = "sent_total", .member = &R::sent_total},
        RecordField{.name = "thread_cpu_ns", .member = &R::thread_cpu_ns, .merge = Merge::append},
        RecordField{.name = "thread_waiting_ns", .member = &R::thread_waiting_ns, .merge = Merge::append},
    };
  }
  void merge(const LoadResult& o) { merge_fields(*this, o); }
};

}  // namespace mux
