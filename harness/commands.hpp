#pragma once
#include <functional>
#include <string>
#include <vector>

namespace mux {
struct RunOptions;
int serve_command(int argc, char** argv);  // bench serve ...
int run_command(int argc, char** argv);    // bench ...
int load_command(int argc, char** argv);   // bench load ...
int sweep_command(int argc, char** argv);  // bench sweep ...
int capacity_command(int argc, char** argv);  // bench capacity --slo=... ...
int list_backends_command(int argc, char** argv);  // bench --list-backends [--json]
// Prints "bench: error: MESSAGE" (one line) and returns `code`.
int fail_with(const std::string& message, int code);
// After the table and its notes: one error line per output a final write failed for (publish()'s
// list); `exit_code`, or kExitFailed when it was 0 and an output is missing.
int report_unwritten(const std::vector<std::string>& unwritten, int exit_code);
// Prints the table header at its first call only (once something will be measured).
std::function<void()> header_once(const RunOptions& options);
}  // namespace mux
