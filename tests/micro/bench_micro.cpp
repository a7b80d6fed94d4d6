// bench_micro: micro-benchmarks of the pieces the I/O models are built from.
//   wait_benchmarks.cpp   one wait call of select, poll, epoll_wait and io_uring with N watched
//                         fds and one of them ready (libevent's test/bench.c experiment)
//   codec_benchmarks.cpp  LatencyHistogram::record, echo and HTTP parsing
// Usage: build/bench_micro [--benchmark_filter=BM_Wait] [--benchmark_out=micro.json
//        --benchmark_out_format=json]; scripts/plot.py plots the BM_Wait* entries of micro.json.
#include <string>

#include <benchmark/benchmark.h>

#include "core/limits.hpp"
#include "tests/micro/wait_benchmarks.hpp"

int main(int argc, char** argv) {
  mux::micro::raise_fd_limit();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("fd_limit", std::to_string(mux::fd_limit()));
  benchmark::RunSpecifiedBenchmarks();
  mux::micro::release_wait_state();
  benchmark::Shutdown();
  return 0;
}
