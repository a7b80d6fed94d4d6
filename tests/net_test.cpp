// SocketAddress: numeric addresses, names, Unix socket paths, what is local, and the first address that answers.
#include "core/net.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mux {
namespace {

TEST(SocketAddress, LoopbackDetection) {
  EXPECT_TRUE(SocketAddress::parse("127.0.0.1", 1).is_loopback());
  EXPECT_TRUE(SocketAddress::parse("127.3.2.1", 1).is_loopback());
  EXPECT_TRUE(SocketAddress::parse("::1", 1).is_loopback());
  EXPECT_FALSE(SocketAddress::parse("10.0.0.1", 1).is_loopback());
  EXPECT_THROW(SocketAddress::parse("example.com", 1), UsageError);
  EXPECT_EQ(SocketAddress::parse("::1", 80).to_string(), "[::1]:80");
}

TEST(SocketAddress, UnspecifiedLocalAndReachableLocally) {
  EXPECT_TRUE(SocketAddress::parse("0.0.0.0", 1).is_unspecified());
  EXPECT_TRUE(SocketAddress::parse("::", 1).is_unspecified());
  EXPECT_FALSE(SocketAddress::parse("127.0.0.1", 1).is_unspecified());
  EXPECT_EQ(SocketAddress::parse("0.0.0.0", 7).reachable_locally().to_string(), "127.0.0.1:7");
  EXPECT_EQ(SocketAddress::parse("::", 7).reachable_locally().to_string(), "[::1]:7");
  EXPECT_EQ(SocketAddress::parse("127.0.0.2", 7).reachable_locally().to_string(), "127.0.0.2:7");
  for (const char* local : {"127.0.0.1", "127.9.9.9", "::1", "0.0.0.0", "::"})
    EXPECT_TRUE(SocketAddress::parse(local, 1).is_local()) << local;
  // TEST-NET-1 and the IPv6 documentation prefix are never assigned to an interface.
  for (const char* foreign : {"192.0.2.1", "2001:db8::1"}) EXPECT_FALSE(SocketAddress::parse(foreign, 1).is_local()) << foreign;
}

TEST(SocketAddress, ResolvesNamesAndNumbers) {
  const auto numeric = SocketAddress::resolve("[::1]", 80);
  ASSERT_EQ(numeric.size(), 1u);
  EXPECT_EQ(numeric.front().to_string(), "[::1]:80");
  // localhost is 127.0.0.1 in every /etc/hosts (and may also be ::1).
  const auto named = SocketAddress::resolve("localhost", 8080);
  EXPECT_NE(std::find(named.begin(), named.end(), SocketAddress::parse("127.0.0.1", 8080)), named.end());
  for (const auto& a : named) EXPECT_TRUE(a.is_loopback()) << a.to_string();
  EXPECT_THROW(SocketAddress::resolve("no-such-host.invalid", 80), UsageError);
}

// Of several addresses, the first one something listens on.
TEST(SocketAddress, FirstAcceptingSkipsAnAddressNothingListensOn) {
  UniqueFd listener = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 4);
  const SocketAddress listening = local_address(listener.get());
  UniqueFd closed_port = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 4);
  const SocketAddress nothing = local_address(closed_port.get());
  closed_port.reset();  // nothing listens there now: a connect is refused
  const std::vector<SocketAddress> candidates{nothing, listening};
  const SocketAddress* found = first_accepting(candidates, std::chrono::milliseconds(1000));
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->to_string(), listening.to_string());
  EXPECT_EQ(first_accepting({nothing}, std::chrono::milliseconds(1000)), nullptr);
}

// A Unix socket's address: written "unix:PATH", local, no port; too long a path is refused;
// a connection to it is not TCP (no TCP_NODELAY), one to a TCP listener is.
TEST(SocketAddress, UnixSocketPath) {
  const SocketAddress a = SocketAddress::unix_socket("/tmp/x.sock");
  EXPECT_TRUE(a.is_unix());
  EXPECT_EQ(a.to_string(), "unix:/tmp/x.sock");
  EXPECT_EQ(a.unix_path(), "/tmp/x.sock");
  EXPECT_TRUE(a.is_local());
  EXPECT_FALSE(a.is_loopback());
  EXPECT_FALSE(a.is_unspecified());
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.reachable_locally(), a);
  EXPECT_FALSE(a == SocketAddress::unix_socket("/tmp/y.sock"));
  EXPECT_NO_THROW(SocketAddress::unix_socket(std::string(kMaxUnixSocketPath, 'x')));
  EXPECT_THROW(SocketAddress::unix_socket(std::string(kMaxUnixSocketPath + 1, 'x')), UsageError);
  EXPECT_THROW(SocketAddress::unix_socket(""), UsageError);
}

TEST(SocketAddress, UnixListenerServesAndIsNotTcp) {
  char dir[] = "/tmp/muxbench-net-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const SocketAddress a = SocketAddress::unix_socket(std::string(dir) + "/s.sock");
  {
    UniqueFd listener = listen_stream(a, 4);
    EXPECT_FALSE(is_tcp_socket(listener.get()));
    EXPECT_EQ(local_address(listener.get()), a);
    UniqueFd client = start_connect(a);
    ASSERT_TRUE(client);
    const SocketAddress* found = first_accepting({a}, std::chrono::milliseconds(1000));
    EXPECT_NE(found, nullptr);
    EXPECT_THROW(listen_unix(a, 4), UsageError) << "a path a server listens on is refused";
  }
  UniqueFd replaced = listen_unix(a, 4);  // the first listener is closed: its file is stale
  EXPECT_TRUE(replaced);
  UniqueFd tcp = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 4);
  EXPECT_TRUE(is_tcp_socket(tcp.get()));
  ::unlink(a.unix_path().c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace mux
