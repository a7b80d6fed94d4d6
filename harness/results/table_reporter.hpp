#pragma once
// The table on stdout: its header once something will be measured, a row per run as it ends,
// and the notes under it (harness/results/run_table.cpp).
#include <cstdio>

#include "harness/results/run_reporter.hpp"

namespace mux {

class TableReporter final : public RunReporter {
 public:
  void header(const RunOptions& options) const override { print(table_header(options)); }
  void report(const ReportedRun& run) const override { print(table_row(run.options, run.record)); }
  std::string notes(const ReportedRun& run) const override { return table_notes(run.options, run.record); }

 private:
  static void print(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }
};

}  // namespace mux
