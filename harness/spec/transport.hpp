#pragma once
// --transport=tcp|unix and --socket-path (fields of ServerSpec, server_spec.hpp), for `bench`
// and `bench serve` (and through `bench`, `bench sweep`): their conflicts with the TCP-only
// flags, and the private directory a Unix socket gets when no path is given. Over a Unix
// socket the server's I/O model pays no TCP/IP stack, so what stays is the cost of waiting for
// and moving bytes itself.
#include <sys/types.h>

#include <string>

#include <CLI/CLI.hpp>

namespace mux {

inline constexpr const char* kTransportTcp = "tcp";
inline constexpr const char* kTransportUnix = "unix";

// After parsing: --socket-path without --transport=unix, --host or --port with it, or a path
// that cannot be a socket here (too long for a socket address, its directory missing) throws a
// UsageError naming the fix.
void check_transport_flags(const CLI::App& app, const std::string& transport, const std::string& socket_path);

// A directory only this user can enter, made with mkdtemp under $TMPDIR (or /tmp), and the
// socket path in it. Removed with what it holds (the socket file of a server that was killed)
// when destroyed, by the process that made it only: a forked child leaves it alone.
class PrivateSocketDir {
 public:
  PrivateSocketDir();  // throws UsageError naming the fix
  ~PrivateSocketDir();
  PrivateSocketDir(const PrivateSocketDir&) = delete;
  PrivateSocketDir& operator=(const PrivateSocketDir&) = delete;
  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string dir_;
  std::string socket_path_;
  pid_t owner_;
};

// The socket file a server bound: unlinked when the server stops (this object is destroyed),
// by the process that bound it only (not by its forked worker processes).
class BoundSocketFile {
 public:
  explicit BoundSocketFile(std::string path);  // empty: nothing to remove (TCP)
  ~BoundSocketFile();
  BoundSocketFile(const BoundSocketFile&) = delete;
  BoundSocketFile& operator=(const BoundSocketFile&) = delete;

 private:
  std::string path_;
  pid_t owner_;
};

}  // namespace mux
