// One busy connection must not starve the rest: a client that keeps the server's socket full
// (a firehose: it sends and reads back as fast as it can) and, meanwhile, a client that sends
// small messages one at a time must get every one of them back, byte for byte, within 5 s
// each. Every entry is held to it. For epoll+et this is what the per-wake-up read budget and
// round-robin are for, but this test does not single them out: with an echo, the output
// high-water mark (4 MiB) also ends a drain, and with the budget removed it still passes.
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fault_harness.hpp"
#include "tests/plain_echo_peers.hpp"
#include "tests/registry_params.hpp"

namespace mux::test {
namespace {

UniqueFd connect_blocking(std::uint16_t port, int timeout_s) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  timeval tv{timeout_s, 0};  // a starved client fails on its timeout instead of hanging the test
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

class Fairness : public ::testing::TestWithParam<std::string> {};

TEST_P(Fairness, AFirehoseClientDoesNotStarveAClientSendingSmallMessages) {
  MUX_SKIP_IF_SLICED_OUT(GetParam());
  ServeProcess server(GetParam(), "raw");
  if (!server.started()) {
    if (server.start_error().find("unavailable") != std::string::npos) GTEST_SKIP() << server.start_error();
    FAIL() << "bench serve did not start: " << server.start_error();
  }
  constexpr std::size_t kChunk = 256 * 1024;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> echoed{0};
  UniqueFd hose = connect_blocking(server.port(), 10);
  ASSERT_TRUE(hose) << "connect";
  // The firehose: one thread sends without pause, another reads the echo back.
  std::thread writer([&] {
    const std::vector<char> chunk(kChunk, 'f');
    while (!stop && send_everything(hose.get(), chunk.data(), chunk.size())) {
    }
  });
  std::thread reader([&] {
    std::vector<char> buf(kChunk);
    while (!stop) {
      const ssize_t n = ::recv(hose.get(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      echoed += static_cast<std::uint64_t>(n);
    }
  });
  const auto flowing_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (echoed < 16 * kChunk && std::chrono::steady_clock::now() < flowing_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(echoed.load(), 16 * kChunk) << "the firehose is not flowing";

  // The small client, while the firehose runs: 50 messages of 100 bytes, each back in full.
  UniqueFd small = connect_blocking(server.port(), 5);
  ASSERT_TRUE(small) << "connect";
  std::size_t answered = 0;
  for (std::size_t round = 0; round < 50; ++round) {
    char out[100], in[100];
    for (std::size_t i = 0; i < sizeof out; ++i) out[i] = client_byte(round, i);
    if (!send_everything(small.get(), out, sizeof out) || !recv_everything(small.get(), in, sizeof in)) break;
    if (std::memcmp(out, in, sizeof in) != 0) break;
    ++answered;
  }
  EXPECT_EQ(answered, 50u) << "the small client was starved (5 s without its echo) or got wrong bytes";
  const std::uint64_t echoed_meanwhile = echoed;
  stop = true;
  ::shutdown(hose.get(), SHUT_RDWR);
  writer.join();
  reader.join();
  EXPECT_GT(echoed_meanwhile, 16 * kChunk);
  const ServeProcess::Stopped stopped = server.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, Fairness, ::testing::ValuesIn(every_backend()),
                         [](const auto& param_info) { return param_name(param_info.param); });

}  // namespace
}  // namespace mux::test
