#pragma once
// The kernel counters, one row each. Every list of them is read from here: the per-request
// fields and totals of results.kernel_counters (kernel_window_json), the run table's columns
// (harness/results/run_table.cpp), the notes, the sweep's summary (harness/sweep/sweep_outputs.cpp)
// and `bench --list-counters [--json]`, which the Python scripts read.
// A new counter: its row here, and its counting in harness/kernel/kernel_counters.cpp.
#include <span>
#include <string_view>

namespace mux {

struct KernelCounterRow {
  const char* name;         // its key in a KernelSnapshot and in results.kernel_counters.SIDE.totals
  const char* source;       // what counts it
  const char* unit;         // what one count is
  const char* per_request;  // its field in results.kernel_counters.SIDE: the count ÷ requests
  const char* column;       // its column in the run table, after the side ("srv sys/req"); null: not shown
  // Counted by getrusage(RUSAGE_SELF), which sees one process: where processes it forked do the
  // work, the counter is reported as not counted (mark_rusage_not_counted).
  bool getrusage;

  // In the run table, the sweep's summary and the scripts' summaries.
  bool in_table() const { return column != nullptr; }
};

// In the order results.kernel_counters lists them.
std::span<const KernelCounterRow> kernel_counter_table();
// The row of counter `name`; null when there is none.
const KernelCounterRow* find_kernel_counter(std::string_view name);

// The two sides results.kernel_counters holds, in the order the table's columns and the notes
// show them.
struct KernelCounterSide {
  const char* key;     // results.kernel_counters.<key>
  const char* prefix;  // of its columns in the run table: "srv sys/req"
  const char* words;   // in the notes: "server", "load generator"
};
std::span<const KernelCounterSide> kernel_counter_sides();

}  // namespace mux
