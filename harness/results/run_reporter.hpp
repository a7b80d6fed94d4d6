#pragma once
// One per-run output format, as google/benchmark's BenchmarkReporter is one of its formats: the
// table on stdout, the JSON document, the .hgrm distribution. Each is told once that the first
// run is about to be measured (header), then of each run as it ends (report), and gives the
// notes printed under the table. The formats are listed in harness/results/run_reporters.cpp.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "harness/results/report.hpp"
#include "harness/spec/options.hpp"

namespace mux {

// One finished run, as its reporters see it.
struct ReportedRun {
  const RunOptions& options;
  const RunRecord& record;
  const nlohmann::ordered_json& environment;
  // A command's own JSON document for the run (`bench capacity`: the closed-loop probe's, with
  // the search added); empty: to_json()'s.
  std::function<nlohmann::ordered_json()> own_document = {};

  // Built once, on the first reporter's asking: --json and --csv read the same document.
  const nlohmann::ordered_json& document() const {
    if (!built_document) built_document = own_document ? own_document() : to_json(options, record, environment);
    return *built_document;
  }
  mutable std::optional<nlohmann::ordered_json> built_document = {};
};

class RunReporter {
 public:
  virtual ~RunReporter() = default;
  // The flag that asks for this output, its value the file's path ("--json"), and the flag's
  // help; empty: the output goes to stdout, always (the table).
  virtual OutputFlag flag() const { return {}; }
  // Once, when the first run is about to be measured (its load connected): a run that measures
  // nothing (bad input, nothing listening) prints nothing.
  virtual void header(const RunOptions&) const {}
  // One run, as it ends. Throws when the output cannot be written.
  virtual void report(const ReportedRun& run) const = 0;
  // Lines for the notes printed under the table once every run has its row (may be empty).
  virtual std::string notes(const ReportedRun&) const { return {}; }
};

// A format written to a file per run: at its flag's path (path_for's, with several backends),
// atomically (harness/system/atomic_file.hpp); nothing when the flag was not given.
class RunFileReporter : public RunReporter {
 public:
  void report(const ReportedRun& run) const final;
  // What `bench sweep` writes for each run itself, to OUT/runs/ID.<extension>.
  virtual std::string_view name() const = 0;  // "JSON", ".hgrm"
  virtual std::string_view extension() const = 0;
  virtual std::string content(const ReportedRun& run) const = 0;
};

}  // namespace mux
