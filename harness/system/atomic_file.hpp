#pragma once
// Output files (--json, --hgrm, a sweep's files): checked before a run, written atomically after.
#include <string>
#include <vector>

namespace mux {

// An output a command was asked to write: the flag that named it (for errors) and its path.
struct OutputFile {
  std::string flag;
  std::string path;
};

// Refuses (UsageError: one line naming the flag, the problem and the fix), before anything runs,
// each output that would destroy what it replaces or could not be written: an existing
// directory, device, FIFO or socket (or a symbolic link to one, or to nothing), a path ending
// in '/', a name longer than NAME_MAX or a path longer than PATH_MAX, a directory that does not
// exist or is not writable, and two outputs that are one file (after symbolic links).
void check_output_files(const std::vector<OutputFile>& files);

// Writes `content` to a temporary file beside `path`, fsyncs it, then renames it over `path`:
// a reader sees the old file or the whole new one, never half of it. A symbolic link is written
// through (the file it points to is replaced, the link kept). Throws std::runtime_error when it
// cannot, and refuses to replace anything but a regular file even if the target changed since
// check_output_files().
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace mux
