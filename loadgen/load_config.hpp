#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

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
  std::size_t pipeline = 1;      // requests in flight per connection
  double warmup_s = 2;
  double duration_s = 10;
  double timeout_s = 5;          // a request unanswered this long is an error
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
  LatencyHistogram latency;         // requests completed in the measured interval
  std::uint64_t requests = 0;       // the same count
  std::uint64_t bytes_verified = 0; // reply bytes compared with what was sent, same interval
  ErrorCounts errors;               // over the whole run, warm-up included
  std::uint64_t reconnects = 0;

  void merge(const LoadResult& o) {
    latency.merge(o.latency);
    requests += o.requests;
    bytes_verified += o.bytes_verified;
    errors.add(o.errors);
    reconnects += o.reconnects;
  }
};

}  // namespace mux
