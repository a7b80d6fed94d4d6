// Any address: the server binds IPv6 loopback or every local address, and `bench load` takes a
// host name. All traffic stays on this machine's loopback.
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/fault_harness.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

// A short closed-loop run of `bench` with --host=HOST; returns its JSON.
nlohmann::json run_on_host(const std::string& host) {
  TempDir dir;
  const Outcome o = bench({"--backend=epoll", "--host=" + host, "--clients=4", "--duration=0.3", "--warmup=0.1",
                           "--json=" + dir.file("r.json")});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  if (o.exit_code != 0) return {};
  return read_json(dir.file("r.json"));
}

void expect_served(const nlohmann::json& doc, const std::string& address_prefix) {
  ASSERT_TRUE(doc.is_object());
  const auto& r = doc["results"];
  EXPECT_EQ(r["errors"], 0) << r.dump(2);
  EXPECT_GT(r["requests"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(),
            r["requests"].get<std::uint64_t>() * doc["config"]["frame_size"].get<std::uint64_t>());
  EXPECT_TRUE(doc["config"]["server_address"].get<std::string>().starts_with(address_prefix))
      << doc["config"]["server_address"];
}

TEST(Addresses, Ipv6LoopbackServesWithoutErrors) { expect_served(run_on_host("::1"), "[::1]:"); }

// 0.0.0.0 and :: bind every local address; the clients then reach the server over the
// loopback address of that family.
TEST(Addresses, EveryLocalAddressIsBoundAndTheClientsUseLoopback) {
  expect_served(run_on_host("0.0.0.0"), "127.0.0.1:");
  expect_served(run_on_host("::"), "[::1]:");
}

// `bench load --target=localhost:P`: the name is resolved, the header and the JSON name the
// target as given and the address used, and say it is this machine.
TEST(Addresses, LoadResolvesAHostName) {
  ServeProcess server("epoll", "echo");
  ASSERT_TRUE(server.started()) << server.start_error();
  TempDir dir;
  const std::string named = fmt::format("localhost:{}", server.port());
  const std::string numeric = fmt::format("127.0.0.1:{}", server.port());
  const Outcome o = bench({"load", "--target=" + named, "--clients=2", "--duration=0.3", "--warmup=0",
                           "--json=" + dir.file("r.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find(fmt::format("server {} ({})", named, numeric)), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("not on this machine"), std::string::npos) << o.out;
  const auto doc = read_json(dir.file("r.json"));
  EXPECT_EQ(doc["config"]["target"], named);
  EXPECT_EQ(doc["config"]["target_is_local"], true);
  EXPECT_EQ(doc["config"]["server_address"], numeric);
  EXPECT_EQ(doc["results"]["errors"], 0);
}

// A name that resolves to nothing, a --host that is not this machine's: one line, exit 2.
TEST(RejectsBadInput, UnresolvableTargetAndForeignHost) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"load", "--target=no-such-host.invalid:8080", "--duration=1"},
        std::vector<std::string>{"--host=192.0.2.1", "--duration=1"},
        std::vector<std::string>{"serve", "--host=192.0.2.1"}}) {
    SCOPED_TRACE(args.front() + " " + args[1]);
    const Outcome o = bench(args);
    EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    const bool resolve = args.front() == "load";
    EXPECT_NE(o.err.find(resolve ? "cannot resolve the host 'no-such-host.invalid'" : "not an address of this machine"),
              std::string::npos)
        << o.err;
  }
  EXPECT_TRUE(tagged_processes().empty());
}

}  // namespace
}  // namespace mux::test
