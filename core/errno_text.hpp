#pragma once
// "Permission denied (EACCES)": an errno as people read it and as they search for it.
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace mux {

inline std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);  // "EACCES"; null when unknown
  return name ? fmt::format("{} ({})", std::strerror(err), name) : std::string(std::strerror(err));
}

}  // namespace mux
