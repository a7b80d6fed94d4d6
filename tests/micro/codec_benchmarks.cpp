// Pure-code costs paid per request on top of the I/O model: recording a latency, and parsing
// (and answering) requests of each protocol. No syscalls here.
#include <sys/uio.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/byte_buffer.hpp"
#include "core/echo_protocol.hpp"
#include "core/http_protocol.hpp"
#include "core/latency_histogram.hpp"

namespace mux::micro {
namespace {

// ------------------------------------------------------------------------------- histogram

// LatencyHistogram::record of latencies as a load generator sees them: lognormal around a
// 50 us median with a long tail (sigma 1: p99 about 10x the median), so the values spread
// over many buckets as in a run. Pre-generated (64 Ki of them, 512 KiB, cache-resident), so
// only record() is timed.
void BM_HistogramRecord(benchmark::State& state) {
  constexpr std::size_t kValues = std::size_t{1} << 16;
  std::vector<std::uint64_t> values(kValues);
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(50'000.0), 1.0);
  for (std::uint64_t& v : values) v = static_cast<std::uint64_t>(latency(rng)) + 1;

  LatencyHistogram histogram;
  std::size_t i = 0;
  for (auto _ : state) {
    histogram.record(values[i++ & (kValues - 1)]);
  }
  benchmark::DoNotOptimize(histogram.count());
  if (histogram.count() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("records lost");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

// ------------------------------------------------------------------------------------ echo

// EchoServerCodec::on_bytes of one read's worth of whole frames (as many as fit in 64 KiB,
// at least one), the reply buffer cleared after each call as a server's is once flushed.
// At 65536 the frame is 4 bytes over ByteBuffer's kept capacity, so clear() gives the buffer
// back and every call reallocates it: that is what the server does too after such a burst.
void BM_EchoParse(benchmark::State& state) {
  const auto message_size = static_cast<std::size_t>(state.range(0));
  const EchoRequests requests(message_size);
  const std::size_t frames = std::max<std::size_t>(1, (64 * 1024) / requests.frame_size(0, 0));
  std::vector<char> input;
  for (std::uint64_t seq = 0; seq < frames; ++seq) {
    iovec iov[2];
    const int n = requests.iov(0, seq, 0, iov);
    for (int k = 0; k < n; ++k) {
      const char* base = static_cast<const char*>(iov[k].iov_base);
      input.insert(input.end(), base, base + iov[k].iov_len);
    }
  }

  EchoServerCodec codec;
  ByteBuffer out;
  for (auto _ : state) {
    if (!codec.on_bytes(input, out) || out.size() != input.size()) {
      state.SkipWithError("the echo codec refused the frames or echoed something else");
      break;
    }
    out.clear();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(frames));
  state.counters["frames"] = static_cast<double>(frames);
}
BENCHMARK(BM_EchoParse)->Arg(1)->Arg(128)->Arg(4096)->Arg(65536);

// ------------------------------------------------------------------------------------ http

// HttpServerCodec::on_bytes of one read holding 1 or 16 pipelined GET requests (what the load
// generator sends), answers included; the reply buffer cleared after each call.
void BM_HttpParse(benchmark::State& state) {
  const auto pipelined = static_cast<std::size_t>(state.range(0));
  std::string input;
  for (std::size_t i = 0; i < pipelined; ++i) input += kHttpRequest;

  HttpServerCodec codec;
  ByteBuffer out;
  for (auto _ : state) {
    if (!codec.on_bytes(input, out) || out.size() != pipelined * kHttpOk.size()) {
      state.SkipWithError("the HTTP server codec did not answer every request with 200");
      break;
    }
    out.clear();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(pipelined));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
}
BENCHMARK(BM_HttpParse)->Arg(1)->Arg(16);

// HttpClientCodec::on_reply of the server's fixed response, as the load generator checks each.
void BM_HttpClientParse(benchmark::State& state) {
  HttpClientCodec codec;
  const std::span<const char> reply(kHttpOk.data(), kHttpOk.size());
  std::uint64_t seq = 0;
  for (auto _ : state) {
    const ClientCodec::Progress p = codec.on_reply(seq++, reply);
    if (p.state != ClientCodec::State::complete || p.consumed != reply.size()) {
      state.SkipWithError("the HTTP client codec did not accept the response");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(reply.size()));
}
BENCHMARK(BM_HttpClientParse);

}  // namespace
}  // namespace mux::micro
