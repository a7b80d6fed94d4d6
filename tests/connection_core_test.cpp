// The connection core every model shares (backends/connection_core.hpp): bytes in, replies
// out; a protocol error counted; the high-water mark stopping input; the close bookkeeping
// counted once; and accept outcomes, dropped connections and the pause counted or reported.
// Expectations are written out here (the bytes a codec must return, the counts), not taken
// from the code under test.
#include "backends/connection_core.hpp"

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/echo_protocol.hpp"
#include "core/net.hpp"
#include "tests/byte_buffer_text.hpp"

namespace mux {
namespace {

std::span<const char> chars_of(std::string_view s) { return {s.data(), s.size()}; }

// A codec whose behaviour the test spells out: it echoes every byte, counts a request per
// '\n', asks to close at '!' (the peer's own wish) and breaks the protocol at '#'.
class ScriptedCodec final : public ServerCodec {
 public:
  bool on_bytes(std::span<const char> in, ByteBuffer& out) override {
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '\n') ++requests_;
      if (in[i] == '!' || in[i] == '#') {
        broke_ = in[i] == '#';
        out.append(in.first(i + 1));
        return false;
      }
    }
    out.append(in);
    return true;
  }
  bool broke_protocol() const override { return broke_; }
  std::uint64_t requests() const override { return requests_; }

 private:
  bool broke_ = false;
  std::uint64_t requests_ = 0;
};

struct OneServer {
  ServerCounters counters;
  ServeContext ctx;
  explicit OneServer(ServerCodecFactory make_codec)
      : ctx{.listen_fd = -1, .stop_fd = -1, .make_codec = std::move(make_codec), .counters = &counters} {}
};

ServerCodecFactory scripted() {
  return [] { return std::make_unique<ScriptedCodec>(); };
}

TEST(ConnectionCore, EchoBytesInRepliesOutAndRequestsCountedAtClose) {
  OneServer s([] { return std::make_unique<EchoServerCodec>(); });
  ConnectionCore c(s.ctx);
  EXPECT_EQ(s.counters.accepted.load(), 1u);  // opening counts it
  // Two echo messages (4-byte big-endian length, then the payload), split mid-header.
  const std::string wire = std::string("\0\0\0\3abc", 7) + std::string("\0\0\0\2xy", 6);
  EXPECT_TRUE(c.take_input(chars_of(std::string_view(wire).substr(0, 9))));
  EXPECT_TRUE(c.take_input(chars_of(std::string_view(wire).substr(9))));
  EXPECT_EQ(to_string(c.out), wire);
  EXPECT_TRUE(c.wants_input());
  EXPECT_EQ(s.counters.requests.load(), 0u);  // counted at close, not per request
  EXPECT_TRUE(c.mark_closed());
  EXPECT_EQ(s.counters.requests.load(), 2u);
  EXPECT_EQ(s.counters.closed.load(), 1u);
  EXPECT_EQ(s.counters.resets.load(), 0u);
  EXPECT_EQ(s.counters.protocol_errors.load(), 0u);
}

TEST(ConnectionCore, ProtocolErrorCountedAndLaterInputDropped) {
  OneServer s([] { return std::make_unique<EchoServerCodec>(); });
  ConnectionCore c(s.ctx);
  // A 2 MiB payload announced: echo's limit is 1 MiB, so the codec refuses it.
  EXPECT_FALSE(c.take_input(chars_of(std::string_view("\0\x20\0\0", 4))));
  EXPECT_EQ(s.counters.protocol_errors.load(), 1u);
  EXPECT_TRUE(c.draining());
  EXPECT_FALSE(c.wants_input());
  const std::size_t queued = c.out.size();
  EXPECT_FALSE(c.take_input(chars_of(std::string_view("\0\0\0\1z", 5))));  // not answered
  EXPECT_EQ(c.out.size(), queued);
  EXPECT_EQ(s.counters.protocol_errors.load(), 1u);
}

TEST(ConnectionCore, PeerAskingToCloseIsNoProtocolError) {
  OneServer s(scripted());
  ConnectionCore c(s.ctx);
  EXPECT_FALSE(c.take_input(chars_of("a\nb!c\n")));
  EXPECT_EQ(to_string(c.out), "a\nb!");  // stops at the '!': what follows is not answered
  EXPECT_TRUE(c.draining());
  EXPECT_EQ(s.counters.protocol_errors.load(), 0u);
  EXPECT_TRUE(c.mark_closed());
  EXPECT_EQ(s.counters.requests.load(), 1u);
}

TEST(ConnectionCore, EndOfInputDrainsWhatWasAnswered) {
  OneServer s(scripted());
  ConnectionCore c(s.ctx);
  EXPECT_TRUE(c.take_input(chars_of("q\n")));
  c.end_of_input();
  EXPECT_TRUE(c.draining());
  EXPECT_FALSE(c.wants_input());
  EXPECT_FALSE(c.take_input(chars_of("r\n")));
  EXPECT_EQ(to_string(c.out), "q\n");  // the reply sent before the peer left stays queued
}

TEST(ConnectionCore, HighWaterMarkStopsInputUntilOutputDrains) {
  OneServer s(scripted());
  ConnectionCore c(s.ctx);
  constexpr std::size_t kFourMiB = 4u * 1024 * 1024;  // the documented mark
  ASSERT_EQ(kOutputHighWater, kFourMiB);
  const std::string chunk(64 * 1024, 'x');
  while (c.out.size() + chunk.size() < kFourMiB) ASSERT_TRUE(c.take_input(chars_of(chunk)));
  c.take_input(chars_of(std::string(kFourMiB - 1 - c.out.size(), 'x')));
  ASSERT_EQ(c.out.size(), kFourMiB - 1);
  EXPECT_TRUE(c.wants_input());
  EXPECT_FALSE(c.wants_input(1));  // one byte the model is still sending reaches the mark
  c.take_input(chars_of("x"));
  EXPECT_FALSE(c.wants_input());
  c.out.consume(1);
  EXPECT_TRUE(c.wants_input());  // reading resumes once the output is below the mark again
}

TEST(ConnectionCore, CloseCountsOnceWithItsReset) {
  OneServer s(scripted());
  ConnectionCore c(s.ctx);
  c.take_input(chars_of("1\n2\n3\n"));
  EXPECT_TRUE(c.mark_closed(Ending::reset));
  EXPECT_TRUE(c.closed());
  EXPECT_FALSE(c.wants_input());
  EXPECT_FALSE(c.mark_closed(Ending::reset));  // already counted: nothing more
  EXPECT_FALSE(c.mark_closed());
  EXPECT_EQ(s.counters.resets.load(), 1u);
  EXPECT_EQ(s.counters.closed.load(), 1u);
  EXPECT_EQ(s.counters.requests.load(), 3u);
}

// A blocking loopback connection to `listener`: once connect() returns, the kernel has queued
// it for accept.
UniqueFd connect_to(int listener) {
  const SocketAddress where = local_address(listener);
  UniqueFd fd(::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(fd.get(), where.get(), where.length), 0) << std::strerror(errno);
  return fd;
}

TEST(ServerAcceptor, BurstStopsAtItsBudgetThenAtAnEmptyBacklog) {
  const UniqueFd listener = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 16);
  ServerCounters counters;
  ServerAcceptor acceptor(listener.get(), counters);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect_to(listener.get()));
  std::vector<UniqueFd> served;
  const auto serve = [&](int fd) { served.emplace_back(fd); };
  EXPECT_EQ(acceptor.accept_burst(2, serve), ServerAcceptor::Stop::budget);
  EXPECT_EQ(served.size(), 2u);
  EXPECT_EQ(acceptor.accept_burst(10, serve), ServerAcceptor::Stop::empty);
  EXPECT_EQ(served.size(), 3u);
  EXPECT_EQ(counters.dropped_at_accept.load(), 0u);
}

TEST(ServerAcceptor, EmfileDropsAPendingConnectionAndCountsIt) {
  const UniqueFd listener = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 16);
  ServerCounters counters;
  ServerAcceptor acceptor(listener.get(), counters);
  const UniqueFd client = connect_to(listener.get());
  // Told of EMFILE with a connection pending: it is accepted with the spare fd and closed.
  EXPECT_FALSE(acceptor.must_pause_after(EMFILE));
  EXPECT_EQ(counters.dropped_at_accept.load(), 1u);
  char byte = 0;
  EXPECT_EQ(::recv(client.get(), &byte, 1, 0), 0);  // the client sees its connection closed
  // Nothing pending: nothing to drop, so accepting must pause; another error pauses too.
  EXPECT_TRUE(acceptor.must_pause_after(EMFILE));
  EXPECT_TRUE(acceptor.must_pause_after(ENOMEM));
  EXPECT_EQ(counters.dropped_at_accept.load(), 1u);
}

TEST(ServerAcceptor, AcceptsUntilStopped) {
  const UniqueFd listener = listen_tcp(SocketAddress::parse("127.0.0.1", 0), 16);
  const UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ServerCounters counters;
  ServerAcceptor acceptor(listener.get(), counters);
  std::atomic<int> served{0};
  std::thread loop([&] {
    acceptor.accept_until_stopped(stop.get(), [&](int fd) {
      ::close(fd);
      ++served;
    });
  });
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(connect_to(listener.get()));
  for (int i = 0; i < 5000 && served < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::uint64_t one = 1;
  EXPECT_EQ(::write(stop.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  loop.join();  // returns once the stop fd is readable
  EXPECT_EQ(served.load(), 4);
}

}  // namespace
}  // namespace mux
