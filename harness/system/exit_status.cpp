#include "harness/system/exit_status.hpp"

#include <cstdio>

#include <fmt/format.h>

namespace mux {

int fail_with(const std::string& message, int code) {
  std::fputs(fmt::format("bench: error: {}\n", message).c_str(), stderr);
  return code;
}

int report_unwritten(const std::vector<std::string>& unwritten, int exit_code) {
  std::fflush(stdout);  // the table and its notes first: the results the files would have held
  for (const std::string& line : unwritten) fail_with(line, kExitFailed);
  return unwritten.empty() || exit_code != 0 ? exit_code : kExitFailed;
}

}  // namespace mux
