#pragma once
// --hgrm PATH: the run's latency distribution in HdrHistogram's .hgrm format (to_hgrm).
#include "harness/results/run_reporter.hpp"

namespace mux {

class HgrmReporter final : public RunFileReporter {
 public:
  OutputFlag flag() const override {
    return {"--hgrm", "also write the latency distribution in HdrHistogram's .hgrm format (ms)"};
  }
  std::string_view name() const override { return ".hgrm"; }
  std::string_view extension() const override { return "hgrm"; }
  std::string content(const ReportedRun& run) const override { return to_hgrm(run.record.load.latency); }
};

}  // namespace mux
