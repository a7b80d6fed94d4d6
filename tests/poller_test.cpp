// The pollers' invariant (libevent's poll_check_ok idea, checked from the outside): after any
// sequence of set_interest calls, wait() reports exactly the watched fds that are ready, each
// with the mask asked for, and nothing else. Every readiness entry of the registry is checked,
// variants included (epoll+et: an fd is reported once per change, not while it stays ready).
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/backend.hpp"
#include "backends/readiness_loop.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

std::vector<const BackendEntry*> readiness_entries() {
  std::vector<const BackendEntry*> entries;
  for (const auto& entry : backend_registry())
    if (entry.make_poller != nullptr) entries.push_back(&entry);
  return entries;
}

constexpr unsigned R = Poller::kRead, W = Poller::kWrite;
constexpr std::size_t kPairs = 8;

class PollerInvariant : public ::testing::TestWithParam<const BackendEntry*> {
 protected:
  void SetUp() override {
    poller_ = GetParam()->make_poller();
    for (std::size_t i = 0; i < kPairs; ++i) {
      int sv[2];
      ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
      watched_[i].reset(sv[0]);
      peer_[i].reset(sv[1]);
    }
  }

  void watch(std::size_t i, unsigned from, unsigned to) { poller_->set_interest(watched_[i].get(), from, to); }
  void send_to(std::size_t i) { ASSERT_EQ(::write(peer_[i].get(), "x", 1), 1); }

  // What one wait reports, as pair index -> mask; an fd that is not one of ours fails the test.
  std::map<std::size_t, unsigned> reported(int timeout_ms) {
    std::array<Poller::Event, 64> events{};
    const int n = poller_->wait(events, timeout_ms);
    std::map<std::size_t, unsigned> out;
    for (int e = 0; e < n; ++e) {
      const auto [fd, mask] = events[static_cast<std::size_t>(e)];
      bool ours = false;
      for (std::size_t i = 0; i < kPairs; ++i)
        if (watched_[i].get() == fd) {
          EXPECT_EQ(out.count(i), 0u) << "fd reported twice in one wait";
          out[i] = mask;
          ours = true;
        }
      EXPECT_TRUE(ours) << "reported fd " << fd << " was never watched";
    }
    return out;
  }

  bool edge_triggered() const { return poller_->edge_triggered(); }

  std::unique_ptr<Poller> poller_;
  std::array<UniqueFd, kPairs> watched_, peer_;
};

using Ready = std::map<std::size_t, unsigned>;

TEST_P(PollerInvariant, ReportsExactlyTheReadyFdsWithTheMasksAskedFor) {
  EXPECT_EQ(GetParam()->capabilities.edge_triggered, edge_triggered()) << "the registry and the poller disagree";
  for (std::size_t i = 0; i < kPairs; ++i) watch(i, 0, R);
  EXPECT_EQ(reported(20), Ready{}) << "nothing was sent yet";

  send_to(1), send_to(3), send_to(6);
  EXPECT_EQ(reported(1000), (Ready{{1, R}, {3, R}, {6, R}}));
  // Not drained: level-triggered reports them again; edge-triggered only on the next change.
  EXPECT_EQ(reported(20), (edge_triggered() ? Ready{} : Ready{{1, R}, {3, R}, {6, R}}));

  watch(2, R, R | W);  // writable now (an empty socket buffer), nothing to read
  watch(1, R, 0);      // still has a byte, but is no longer watched
  EXPECT_EQ(reported(1000), (edge_triggered() ? Ready{{2, W}} : Ready{{2, W}, {3, R}, {6, R}}));

  send_to(1), send_to(4);
  EXPECT_EQ(reported(1000), (edge_triggered() ? Ready{{4, R}} : Ready{{2, W}, {3, R}, {4, R}, {6, R}}));

  watch(2, R | W, R);  // write interest dropped: no data, so not reported at all
  EXPECT_EQ(reported(20), (edge_triggered() ? Ready{} : Ready{{3, R}, {4, R}, {6, R}}));

  for (std::size_t i : {0, 2, 3, 4, 5, 6, 7}) watch(i, R, 0);
  send_to(0), send_to(5);
  EXPECT_EQ(reported(20), Ready{}) << "no fd is watched any more";
}

INSTANTIATE_TEST_SUITE_P(EveryReadinessBackend, PollerInvariant, ::testing::ValuesIn(readiness_entries()),
                         [](const auto& param_info) {
                           std::string name(param_info.param->name);
                           for (char& ch : name)
                             if (ch == '+') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace mux
