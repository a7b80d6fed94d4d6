#pragma once
// --json PATH: the run's JSON document (schema: results/README.md).
#include "harness/results/run_reporter.hpp"

namespace mux {

class JsonReporter final : public RunFileReporter {
 public:
  OutputFlag flag() const override {
    return {"--json", "also write the result as JSON to this file (written atomically; with --backend=all, "
                      "{backend} in the name is replaced, or .BACKEND is inserted)"};
  }
  std::string_view name() const override { return "JSON"; }
  std::string_view extension() const override { return "json"; }
  std::string content(const ReportedRun& run) const override { return run.document().dump(2) + "\n"; }
};

}  // namespace mux
