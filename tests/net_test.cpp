// SocketAddress: numeric addresses, names, what is local, and the first address that answers.
#include "core/net.hpp"

#include <algorithm>
#include <chrono>
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

}  // namespace
}  // namespace mux
