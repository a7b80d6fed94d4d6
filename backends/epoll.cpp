// epoll(7): the kernel keeps the interest set, so a wait costs what is ready, not what is
// watched. Level-triggered by default; edge-triggered (EPOLLET, the `epoll+et` variant) reports
// a socket once per change, so the loop drains it (ReadinessLoop does, when edge_triggered()).
// EPOLLEXCLUSIVE on a listener (the `epoll+exclusive` variant): when several loops' epoll sets
// watch one listening socket, a new connection wakes one of them, not all (4.5).
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "backends/readiness_loop.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

class EpollPoller final : public Poller {
 public:
  EpollPoller(bool edge_triggered, bool exclusive_listener)
      : epfd_(::epoll_create1(EPOLL_CLOEXEC)), edge_triggered_(edge_triggered), exclusive_listener_(exclusive_listener) {
    if (!epfd_) throw std::runtime_error(fmt::format("epoll_create1(): {}", std::strerror(errno)));
  }

  void set_interest(int fd, unsigned old_mask, unsigned new_mask) override {
    epoll_event ev{};
    ev.events = ((new_mask & kRead) ? EPOLLIN : 0u) | ((new_mask & kWrite) ? EPOLLOUT : 0u) |
                (edge_triggered_ ? static_cast<std::uint32_t>(EPOLLET) : 0u);
    ev.data.fd = fd;
    const int op = old_mask == 0 ? EPOLL_CTL_ADD : new_mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (::epoll_ctl(epfd_.get(), op, fd, &ev) != 0)
      throw std::runtime_error(fmt::format("epoll_ctl(fd {}): {}", fd, std::strerror(errno)));
  }

  bool edge_triggered() const override { return edge_triggered_; }

  // EPOLLEXCLUSIVE is allowed with EPOLL_CTL_ADD only: pausing accepts removes the listener,
  // resuming adds it again.
  void watch_listener(int fd, bool on) override {
    if (!exclusive_listener_) return Poller::watch_listener(fd, on);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_.get(), on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) != 0)
      throw std::runtime_error(fmt::format("epoll_ctl(listener {}, EPOLLEXCLUSIVE): {}", fd, std::strerror(errno)));
  }

  int wait(std::span<Event> out, int timeout_ms) override {
    if (ready_.size() < out.size()) ready_.resize(out.size());
    const int n = ::epoll_wait(epfd_.get(), ready_.data(), static_cast<int>(out.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::runtime_error(fmt::format("epoll_wait(): {}", std::strerror(errno)));
    }
    for (int i = 0; i < n; ++i) {
      const std::uint32_t e = ready_[static_cast<std::size_t>(i)].events;
      unsigned mask = 0;
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) mask |= kRead;
      if (e & EPOLLOUT) mask |= kWrite;
      out[static_cast<std::size_t>(i)] = {ready_[static_cast<std::size_t>(i)].data.fd, mask};
    }
    return n;
  }

 private:
  UniqueFd epfd_;
  bool edge_triggered_;
  bool exclusive_listener_;
  std::vector<epoll_event> ready_;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() { return std::make_unique<EpollPoller>(false, false); }
std::unique_ptr<Poller> make_epoll_et_poller() { return std::make_unique<EpollPoller>(true, false); }
std::unique_ptr<Poller> make_epoll_exclusive_poller() { return std::make_unique<EpollPoller>(false, true); }

}  // namespace mux
