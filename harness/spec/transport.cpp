#include "harness/spec/transport.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/net.hpp"
#include "core/usage_error.hpp"
#include "harness/spec/cli_checks.hpp"

namespace mux {

void check_transport_flags(const CLI::App& app, const std::string& transport, const std::string& socket_path) {
  const bool given_path = app.count("--socket-path") > 0;
  if (transport != kTransportUnix) {
    if (given_path) throw UsageError("--socket-path applies to --transport=unix only; add --transport=unix");
    return;
  }
  for (const char* tcp_only : {"--host", "--port"})
    if (app.count(tcp_only) > 0)
      throw UsageError(fmt::format("{} does not apply to --transport=unix: the server listens on a socket path, not "
                                   "an address; drop {} (--socket-path chooses the path)",
                                   tcp_only, tcp_only));
  if (!given_path) return;
  try {
    SocketAddress::unix_socket(socket_path);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--socket-path: {}", e.what()));
  }
  const std::filesystem::path dir = std::filesystem::path(socket_path).parent_path();
  std::error_code error;
  if (!std::filesystem::is_directory(dir.empty() ? "." : dir, error))
    throw UsageError(fmt::format("--socket-path={}: the directory {} does not exist; create it or choose another path",
                                 socket_path, dir.string()));
}

PrivateSocketDir::PrivateSocketDir() : owner_(::getpid()) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = fmt::format("{}/muxbench-XXXXXX", tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp");
  if (::mkdtemp(pattern.data()) == nullptr)  // mode 0700: no other user reaches the socket
    throw UsageError(fmt::format("cannot create a directory for the Unix socket ({}): {}; set TMPDIR to a writable "
                                 "directory or give --socket-path",
                                 pattern, std::strerror(errno)));
  dir_ = pattern;
  socket_path_ = dir_ + "/bench.sock";
  if (socket_path_.size() > kMaxUnixSocketPath) {
    ::rmdir(dir_.c_str());
    throw UsageError(fmt::format("the Unix socket path {} would be {} bytes, more than the {} a socket address "
                                 "holds; set TMPDIR to a shorter directory or give --socket-path",
                                 socket_path_, socket_path_.size(), kMaxUnixSocketPath));
  }
}

PrivateSocketDir::~PrivateSocketDir() {
  if (::getpid() != owner_) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

BoundSocketFile::BoundSocketFile(std::string path) : path_(std::move(path)), owner_(::getpid()) {}

BoundSocketFile::~BoundSocketFile() {
  if (!path_.empty() && ::getpid() == owner_) ::unlink(path_.c_str());
}

}  // namespace mux
