// --server-cmd's template: placeholders filled in ({path} over a Unix socket), the shell's own
// braces left alone, and every malformed template refused with a message that names the fix.
#include <gtest/gtest.h>

#include "core/usage_error.hpp"
#include "harness/server/command_server.hpp"

namespace mux {
namespace {

const ServerCommandValues kValues{"127.0.0.1", 8080, "0-1", ""};  // over TCP: no {path}

TEST(ServerCommand, FillsInEveryPlaceholder) {
  EXPECT_EQ(expand_server_command("srv --listen={host}:{port} --cpus={cpus} --again={port}", kValues),
            "srv --listen=127.0.0.1:8080 --cpus=0-1 --again=8080");
}

TEST(ServerCommand, LeavesTheShellsBracesAndDoubledBracesAlone) {
  EXPECT_EQ(expand_server_command("${HOME}/srv {port} '{{\"a\": 1}}'", kValues), "${HOME}/srv 8080 '{\"a\": 1}'");
}

TEST(ServerCommand, RefusesWhatItCannotFillIn) {
  const auto message = [](const std::string& command) {
    try {
      expand_server_command(command, kValues);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("srv --port=8080").find("must contain {port}"), std::string::npos);
  EXPECT_NE(message("srv {port} {name}").find("unknown placeholder {name}"), std::string::npos);
  EXPECT_NE(message("srv {port").find("unmatched '{'"), std::string::npos);
  EXPECT_NE(message("srv {port} }").find("unmatched '}'"), std::string::npos);
}

TEST(ServerCommand, OverAUnixSocketPathReplacesHostAndPort) {
  const ServerCommandValues unix_socket{"127.0.0.1", 0, "0", "/tmp/d/bench.sock"};
  EXPECT_EQ(expand_server_command("srv --unix={path} --cpus={cpus}", unix_socket), "srv --unix=/tmp/d/bench.sock --cpus=0");
  const auto message = [](const std::string& command, const ServerCommandValues& values) {
    try {
      expand_server_command(command, values);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("srv --port={port}", unix_socket).find("{port} with --transport=unix"), std::string::npos);
  EXPECT_NE(message("srv {path} {host}", unix_socket).find("{host} with --transport=unix"), std::string::npos);
  EXPECT_NE(message("srv --cpus={cpus}", unix_socket).find("must contain {path}"), std::string::npos);
  EXPECT_NE(message("srv {path}", kValues).find("add --transport=unix"), std::string::npos);
  // A sweep's --servers, before its runs' --transport is known: either endpoint passes.
  EXPECT_NO_THROW(check_server_command("srv {path}", ServerTransport::either));
  EXPECT_NO_THROW(check_server_command("srv {port}", ServerTransport::either));
  EXPECT_THROW(check_server_command("srv", ServerTransport::either), UsageError);
  EXPECT_THROW(check_server_command("srv {path}", ServerTransport::tcp), UsageError);
  EXPECT_THROW(check_server_command("srv {port}", ServerTransport::unix_socket), UsageError);
}

TEST(ServerCommand, NamesTheServerAfterItsProgram) {
  EXPECT_EQ(server_command_name("/usr/sbin/nginx -c x {port}"), "nginx");
  EXPECT_EQ(server_command_name("  ./my-server {port}"), "my-server");
}

}  // namespace
}  // namespace mux
