#pragma once
// How bench ends: its exit statuses, and the one line it prints for an error.
#include <string>
#include <vector>

namespace mux {

inline constexpr int kExitUsage = 2;        // bad input: one line on stderr, nothing left behind
inline constexpr int kExitFailed = 1;       // the run itself failed (the server died, errors)
inline constexpr int kExitInterrupted = 130;

// Prints "bench: error: MESSAGE" (one line) and returns `code`.
int fail_with(const std::string& message, int code);
// After the table and its notes: one error line per output a final write failed for (publish()'s
// list); `exit_code`, or kExitFailed when it was 0 and an output is missing.
int report_unwritten(const std::vector<std::string>& unwritten, int exit_code);

}  // namespace mux
