#pragma once
#include <string>

namespace mux {
// Writes `content` to a temporary file beside `path`, fsyncs it, then renames it over `path`:
// a reader sees the old file or the whole new one, never half of it. Throws on failure.
void write_file_atomically(const std::string& path, const std::string& content);
}  // namespace mux
