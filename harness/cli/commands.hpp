#pragma once
// The subcommands of bench (harness/cli/main.cpp dispatches to them).
#include "harness/system/exit_status.hpp"

namespace mux {
int serve_command(int argc, char** argv);  // bench serve ...
int run_command(int argc, char** argv);    // bench ...
int load_command(int argc, char** argv);   // bench load ...
int list_backends_command(int argc, char** argv);  // bench --list-backends [--json]
}  // namespace mux
