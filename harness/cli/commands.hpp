#pragma once
// The subcommands of bench (harness/cli/main.cpp dispatches to them).
#include <functional>
#include <string>
#include <string_view>

#include "harness/system/exit_status.hpp"

namespace mux {
int serve_command(int argc, char** argv);  // bench serve ...
int run_command(int argc, char** argv);    // bench ...
int load_command(int argc, char** argv);   // bench load ...
int list_backends_command(int argc, char** argv);  // bench --list-backends [--json]
int list_counters_command(int argc, char** argv);  // bench --list-counters [--json]

// `bench FLAG [--json]` (argv[1] is FLAG): prints listing(json); any other argument is refused,
// with exit status 2.
int print_listing(int argc, char** argv, std::string_view flag, const std::function<std::string(bool json)>& listing);
}  // namespace mux
