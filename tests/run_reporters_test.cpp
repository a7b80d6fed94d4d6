// A run's outputs: the kernel counters' table (kernel_counter_table()) is what the JSON and the
// run table show, and the per-run formats (run_reporters()) write what their flags ask for,
// each file whatever happened to the others.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/proc_files.hpp"
#include "harness/kernel/counter_table.hpp"
#include "harness/kernel/kernel_counters.hpp"
#include "harness/results/report.hpp"
#include "harness/results/run_reporters.hpp"
#include "tests/temp_dir.hpp"

namespace mux {
namespace {

std::string contents(const std::string& path) { return read_proc_file(path); }

RunOptions options() {
  RunOptions o;
  o.server.cpus = {0};
  o.load.cpus = {1};
  o.load.clients = 2;
  return o;
}

RunRecord record() {
  RunRecord r;
  r.backend = "epoll";
  r.measured_s = 1;
  for (std::uint64_t us = 1; us <= 100; ++us) r.load.latency.record(us * 1000);
  r.load.requests = 100;
  KernelSnapshot before, after;
  for (const KernelCounterRow& counter : kernel_counter_table()) {
    before.counts[counter.name] = 0;
    after.counts[counter.name] = 250;
  }
  r.kernel_counters = {{"server", kernel_window_json(before, after, 100, "server")},
                       {"loadgen", kernel_window_json(before, after, 100, "loadgen")}};
  return r;
}

// results.kernel_counters.SIDE has each counter's per-request field, in the table's order, and
// its total; the scripts name a counter's field NAME_per_request where bench cannot tell them.
TEST(KernelCounterTable, IsWhatTheJsonHolds) {
  KernelSnapshot before, after;
  before.counts["syscalls"] = 0;
  after.counts["syscalls"] = 10;
  const auto side = kernel_window_json(before, after, 5, "test");
  std::vector<std::string> fields;
  for (const auto& [key, value] : side.items())
    if (key.ends_with("_per_request")) fields.push_back(key);
  std::vector<std::string> expected;
  for (const KernelCounterRow& counter : kernel_counter_table()) {
    expected.push_back(counter.per_request);
    EXPECT_EQ(std::string(counter.per_request), std::string(counter.name) + "_per_request");
    EXPECT_TRUE(side["totals"].contains(counter.name)) << counter.name;
    EXPECT_EQ(find_kernel_counter(counter.name), &counter);
  }
  EXPECT_EQ(fields, expected);
  EXPECT_EQ(side["syscalls_per_request"], 2.0);
  EXPECT_TRUE(side["unavailable"].contains("context_switches_per_request"));  // not in the snapshots
}

// The run table shows the counters that have a column, each side's, "n/a" where not counted.
TEST(KernelCounterTable, IsWhatTheRunTableShows) {
  const RunOptions o = options();
  RunRecord r = record();
  const std::string header = table_header(o);
  std::string row = table_row(o, r);
  for (const KernelCounterSide& side : kernel_counter_sides())
    for (const KernelCounterRow& counter : kernel_counter_table())
      if (counter.in_table()) {
        EXPECT_NE(header.find(fmt::format("{} {}", side.prefix, counter.column)), std::string::npos);
      }
  EXPECT_TRUE(header.ends_with("srv cpu  gen cpu  srv sys/req  srv cs/req  gen sys/req  gen cs/req\n")) << header;
  EXPECT_TRUE(row.ends_with("        2.500       2.500        2.500       2.500\n")) << row;
  r.kernel_counters = nullptr;
  row = table_row(o, r);
  EXPECT_TRUE(row.ends_with("          n/a         n/a          n/a         n/a\n")) << row;
}

// Every file format has a flag of its own, which the parsers bind and preflight checks.
TEST(RunReporters, EachFileFormatHasAFlag) {
  std::set<std::string> flags;
  for (const OutputFlag& flag : run_output_flags()) {
    EXPECT_TRUE(flag.flag.starts_with("--")) << flag.flag;
    EXPECT_FALSE(flag.help.empty()) << flag.flag;
    flags.insert(std::string(flag.flag));
  }
  EXPECT_EQ(flags.size(), run_output_flags().size());  // no two formats share a flag
  EXPECT_TRUE(flags.contains("--json") && flags.contains("--hgrm") && flags.contains("--csv"));
  EXPECT_EQ(run_file_reporters().size() + 1, run_reporters().size());  // and the table
}

// publish(): the table's row on stdout, each file asked for at its path, and one line per file
// that could not be written, the others written all the same.
TEST(RunReporters, PublishWritesEachFileAndNamesTheOnesItCouldNot) {
  test::TempDir dir;
  RunOptions o = options();
  o.outputs["--json"] = dir.file("missing-dir/r.json");
  o.outputs["--hgrm"] = dir.file("r.hgrm");
  const RunRecord r = record();
  const nlohmann::ordered_json environment{{"hostname", "test"}};
  testing::internal::CaptureStdout();
  const std::vector<std::string> unwritten = publish({o, r, environment});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, table_row(o, r));
  ASSERT_EQ(unwritten.size(), 1u);
  EXPECT_TRUE(unwritten.front().starts_with("--json: ")) << unwritten.front();
  EXPECT_EQ(contents(dir.file("r.hgrm")), to_hgrm(r.load.latency));

  o.outputs["--json"] = dir.file("r.json");
  testing::internal::CaptureStdout();
  EXPECT_TRUE(publish({o, r, environment}).empty());
  testing::internal::GetCapturedStdout();
  EXPECT_EQ(contents(dir.file("r.json")), to_json(o, r, environment).dump(2) + "\n");
}

// write_run_files(): the files alone (`bench capacity` prints rows of its own), with the JSON a
// command's own document where it has one.
TEST(RunReporters, FilesAloneWithACommandsOwnDocument) {
  test::TempDir dir;
  RunOptions o = options();
  o.outputs["--json"] = dir.file("r.json");
  const RunRecord r = record();
  const nlohmann::ordered_json environment;
  testing::internal::CaptureStdout();
  const auto unwritten = write_run_files({o, r, environment, [] { return nlohmann::ordered_json{{"kind", "own"}}; }});
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_TRUE(unwritten.empty());
  EXPECT_EQ(contents(dir.file("r.json")), "{\n  \"kind\": \"own\"\n}\n");
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.hgrm")));  // not asked for
}

// Splits one CSV line into its cells (RFC 4180 quoting), independently of the reporter.
std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') cells.back() += line[++i];
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) cells.emplace_back();
    else cells.back() += c;
  }
  return cells;
}

// --csv: a header and one row of as many cells, the JSON's config and results flattened; a
// value holding a comma is quoted, a value not measured is an empty cell, arrays stay out.
TEST(RunReporters, CsvIsAHeaderAndARowOfTheRunsFields) {
  test::TempDir dir;
  RunOptions o = options();
  o.sources = "127.0.0.1,127.0.0.2";
  o.outputs["--csv"] = dir.file("r.csv");
  const RunRecord r = record();
  testing::internal::CaptureStdout();
  EXPECT_TRUE(publish({o, r, nlohmann::ordered_json::object()}).empty());
  testing::internal::GetCapturedStdout();
  const std::string text = contents(dir.file("r.csv"));
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  const std::string header_line = text.substr(0, text.find('\n'));
  const std::vector<std::string> header = csv_cells(header_line);
  const std::vector<std::string> row = csv_cells(text.substr(header_line.size() + 1, text.size() - header_line.size() - 2));
  ASSERT_EQ(header.size(), row.size());
  std::map<std::string, std::string> cell;
  for (std::size_t i = 0; i < header.size(); ++i) cell[header[i]] = row[i];
  EXPECT_EQ(cell.size(), header.size());  // no two columns share a name
  EXPECT_EQ(cell.at("backend"), "epoll");
  EXPECT_EQ(cell.at("clients"), "2");
  EXPECT_EQ(cell.at("sources"), "127.0.0.1,127.0.0.2");
  EXPECT_EQ(cell.at("requests"), "100");
  // 1..100 µs recorded (in ns): the 99th percentile is 99 µs, within the histogram's resolution.
  EXPECT_NEAR(std::stod(cell.at("latency_us.p99")), 99.0, 99.0 * 0.01);
  EXPECT_EQ(cell.at("rate"), "");  // closed loop: null in the JSON
  EXPECT_FALSE(cell.contains("timeline"));
  EXPECT_FALSE(cell.contains("server_cpus"));  // an array
}

}  // namespace
}  // namespace mux
