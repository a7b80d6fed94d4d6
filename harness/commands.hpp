#pragma once
#include <string>

namespace mux {
int serve_command(int argc, char** argv);  // bench serve ...
int run_command(int argc, char** argv);    // bench ...
int load_command(int argc, char** argv);   // bench load ...
// Prints "bench: error: MESSAGE" (one line) and returns `code`.
int fail_with(const std::string& message, int code);
}  // namespace mux
