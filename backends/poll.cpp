// poll(2): one pollfd per watched fd, kept dense (a removed entry takes the last one's place)
// so each call passes exactly the live set.
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "backends/readiness_loop.hpp"

namespace mux {
namespace {

class PollPoller final : public Poller {
 public:
  void set_interest(int fd, unsigned old_mask, unsigned new_mask) override {
    if (static_cast<std::size_t>(fd) >= slot_.size()) slot_.resize(static_cast<std::size_t>(fd) * 2 + 16, -1);
    if (old_mask == 0 && new_mask != 0) {
      slot_[fd] = static_cast<int>(fds_.size());
      fds_.push_back({fd, events_of(new_mask), 0});
    } else if (new_mask == 0 && old_mask != 0) {
      const int at = slot_[fd];
      fds_[at] = fds_.back();
      slot_[fds_[at].fd] = at;
      fds_.pop_back();
      slot_[fd] = -1;
    } else if (new_mask != 0) {
      fds_[slot_[fd]].events = events_of(new_mask);
    }
  }

  int wait(std::span<Event> out, int timeout_ms) override {
    const int n = ::poll(fds_.data(), fds_.size(), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::runtime_error(fmt::format("poll(): {}", std::strerror(errno)));
    }
    int count = 0;
    for (std::size_t i = 0; i < fds_.size() && count < n && count < static_cast<int>(out.size()); ++i) {
      const short re = fds_[i].revents;
      if (re == 0) continue;
      unsigned mask = 0;
      // Errors and hang-ups are reported as readable: the read that follows finds out which.
      if (re & (POLLIN | POLLERR | POLLHUP)) mask |= kRead;
      if (re & POLLOUT) mask |= kWrite;
      out[static_cast<std::size_t>(count++)] = {fds_[i].fd, mask};
    }
    return count;
  }

 private:
  static short events_of(unsigned mask) {
    return static_cast<short>(((mask & kRead) ? POLLIN : 0) | ((mask & kWrite) ? POLLOUT : 0));
  }
  std::vector<pollfd> fds_;
  std::vector<int> slot_;  // fd -> index in fds_
};

}  // namespace

std::unique_ptr<Poller> make_poll_poller() { return std::make_unique<PollPoller>(); }

}  // namespace mux
