#include "harness/results/run_reporters.hpp"

#include <fmt/format.h>

#include "harness/results/csv_reporter.hpp"
#include "harness/results/hgrm_reporter.hpp"
#include "harness/results/json_reporter.hpp"
#include "harness/results/table_reporter.hpp"
#include "harness/system/atomic_file.hpp"

namespace mux {
namespace {

// Every output of `run` by the reporters `which` takes; one line per output not written.
template <typename Which>
std::vector<std::string> report_each(const ReportedRun& run, Which which) {
  std::vector<std::string> failed;
  for (const auto& reporter : run_reporters()) {
    if (!which(*reporter)) continue;
    try {
      reporter->report(run);
    } catch (const std::exception& e) {
      failed.push_back(fmt::format("{}: {}", reporter->flag().flag, e.what()));
    }
  }
  return failed;
}

bool writes_a_file(const RunReporter& reporter) { return dynamic_cast<const RunFileReporter*>(&reporter) != nullptr; }

}  // namespace

// A new format: its reporter's header (included above), and a line here.
std::span<const std::unique_ptr<const RunReporter>> run_reporters() {
  static const std::unique_ptr<const RunReporter> formats[] = {
      std::make_unique<TableReporter>(),
      std::make_unique<JsonReporter>(),
      std::make_unique<HgrmReporter>(),
      std::make_unique<CsvReporter>(),
  };
  return formats;
}

void RunFileReporter::report(const ReportedRun& run) const {
  const std::string& path = run.options.output_path(flag().flag);
  if (path.empty()) return;
  write_file_atomically(path_for(run.options, path, run.record.backend), content(run));
}

std::vector<const RunFileReporter*> run_file_reporters() {
  std::vector<const RunFileReporter*> files;
  for (const auto& reporter : run_reporters())
    if (const auto* file = dynamic_cast<const RunFileReporter*>(reporter.get())) files.push_back(file);
  return files;
}

std::vector<OutputFlag> run_output_flags() {
  std::vector<OutputFlag> flags;
  for (const RunFileReporter* file : run_file_reporters()) flags.push_back(file->flag());
  return flags;
}

std::function<void()> header_once(const RunOptions& o) {
  return [&o, printed = false]() mutable {
    if (printed) return;
    for (const auto& reporter : run_reporters()) reporter->header(o);
    printed = true;
  };
}

std::vector<std::string> publish(const ReportedRun& run) {
  return report_each(run, [](const RunReporter&) { return true; });
}

std::vector<std::string> write_run_files(const ReportedRun& run) { return report_each(run, writes_a_file); }

std::string run_notes(const ReportedRun& run) {
  std::string notes;
  for (const auto& reporter : run_reporters()) notes += reporter->notes(run);
  return notes;
}

}  // namespace mux
