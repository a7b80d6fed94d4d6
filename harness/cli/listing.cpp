// The listings bench prints instead of measuring (--list-backends, --list-counters): a table for
// people, or with --json the JSON the scripts read.
#include <cstdio>
#include <string_view>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"

namespace mux {

int print_listing(int argc, char** argv, std::string_view flag, const std::function<std::string(bool json)>& listing) {
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--json") {
      json = true;
      continue;
    }
    return fail_with(fmt::format("{} takes only --json, not '{}'; run `bench {} [--json]`", flag, argv[i], flag),
                     kExitUsage);
  }
  std::fputs(listing(json).c_str(), stdout);
  return 0;
}

}  // namespace mux
