#pragma once
// The per-run output formats (harness/results/run_reporter.hpp), and what a command does with
// them: hands their flags to the parser, prints their header once, publishes each run through
// every one of them, and gathers their notes.
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "harness/results/run_reporter.hpp"

namespace mux {

// Every format, in the order a run's outputs are written: the table, then the files.
std::span<const std::unique_ptr<const RunReporter>> run_reporters();
// The formats written to files, in the same order.
std::vector<const RunFileReporter*> run_file_reporters();
// The flags of the formats written to files (--json, --hgrm), for parse_run_options and
// parse_load_options.
std::vector<OutputFlag> run_output_flags();
// Every format's header, at the first call only: measure()'s on_connected.
std::function<void()> header_once(const RunOptions& options);
// Every format's output of one run: the table's row, then each file asked for. A file that
// cannot be written (disk full) does not stop the others: returns one line per output not
// written ("--json: WHY"; empty: all were).
[[nodiscard]] std::vector<std::string> publish(const ReportedRun& run);
// The files alone, for a command that prints rows of its own (`bench capacity`).
[[nodiscard]] std::vector<std::string> write_run_files(const ReportedRun& run);
// Every format's notes on the run, for under the table (may be empty).
std::string run_notes(const ReportedRun& run);

}  // namespace mux
