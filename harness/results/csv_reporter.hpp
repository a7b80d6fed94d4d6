#pragma once
// --csv PATH: the run as one CSV row under a header row, for spreadsheets and data frames
// (hyperfine's --export-csv, wrk2's summaries). The columns are the JSON document's config and
// results, flattened ("latency_us.p99"), in the document's order, so every field the JSON has is
// a column and no list of them is kept here; arrays (timeline, spectrum, shards) stay in the
// JSON. An absent value (JSON null: not measured) is an empty cell.
#include <string>
#include <utility>
#include <vector>

#include "harness/results/run_reporter.hpp"

namespace mux {

class CsvReporter final : public RunFileReporter {
 public:
  OutputFlag flag() const override {
    return {"--csv", "also write the run as a CSV header and row (the JSON's config and results, flattened; "
                     "written atomically; {backend} as for --json)"};
  }
  std::string_view name() const override { return "CSV"; }
  std::string_view extension() const override { return "csv"; }

  std::string content(const ReportedRun& run) const override {
    std::vector<std::pair<std::string, std::string>> cells;
    const nlohmann::ordered_json& document = run.document();
    for (const char* part : {"config", "results"})
      if (document.contains(part)) flatten(document[part], "", cells);
    std::string header, row;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) {
        header += ',';
        row += ',';
      }
      header += quoted(cells[i].first);
      row += cells[i].second;
    }
    return header + "\n" + row + "\n";
  }

 private:
  static void flatten(const nlohmann::ordered_json& value, const std::string& name,
                      std::vector<std::pair<std::string, std::string>>& cells) {
    if (value.is_object()) {
      for (const auto& [key, inner] : value.items()) flatten(inner, name.empty() ? key : name + "." + key, cells);
    } else if (!value.is_array()) {
      cells.emplace_back(name, value.is_null() ? "" : value.is_string() ? quoted(value.get<std::string>()) : value.dump());
    }
  }
  // RFC 4180: a cell holding a comma, a quote or a line break is quoted, its quotes doubled.
  static std::string quoted(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
    return out;
  }
};

}  // namespace mux
