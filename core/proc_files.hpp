#pragma once
// Reading /proc without exceptions and without leaking a directory stream. A process's files
// vanish while they are read when it exits: read(2) then fails with ESRCH, and libstdc++'s
// filebuf turns that into an exception out of an istreambuf_iterator, past an open DIR*. Under
// a busy CI runner that happened mid-run (a `--server-cmd` run failed and leaked the /proc
// listing), so everything that lists or reads another process's /proc files goes through here.
#include <string>
#include <vector>

namespace mux {

// The whole of file `path` (a /proc or /sys file: small); "" when it cannot be opened or read,
// e.g. because its process has exited.
std::string read_proc_file(const std::string& path);
// The same from an open descriptor, read to its end; "" when a read fails.
std::string read_to_end(int fd);
// The entries of directory `dir` whose names are numbers (pids, thread ids, fds), ascending;
// empty when it cannot be opened.
std::vector<int> numeric_entries(const std::string& dir);

}  // namespace mux
