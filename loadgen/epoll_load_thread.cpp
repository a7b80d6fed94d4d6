// --loadgen-io=epoll: the load thread's I/O on a level-triggered epoll loop. Each reply costs a
// recv() and its request a sendmsg(), plus a share of the epoll_pwait2() that found them.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "loadgen/load_connection.hpp"
#include "loadgen/load_thread.hpp"

namespace mux {
namespace {

constexpr int kMaxIov = kMaxSendIov;
constexpr std::size_t kEventBatch = 1024;
constexpr std::size_t kReceiveBytes = 64 * 1024;

class EpollLoadThread final : public LoadThread {
 public:
  EpollLoadThread(const LoadConfig& config, std::size_t first, std::size_t count, std::size_t idle,
                  const std::atomic<std::uint64_t>& stop_ns)
      : LoadThread(config, first, count, idle, stop_ns),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        events_(connection_count(), 0),
        ready_(kEventBatch),
        scratch_(kReceiveBytes) {
    if (!epoll_) throw std::runtime_error(fmt::format("epoll_create1(): {}", std::strerror(errno)));
  }

 private:
  void wait(std::uint64_t timeout_ns) override;
  void watch_connect(Connection& c) override { watch(c, EPOLLOUT); }
  void watch_replies(Connection& c) override { watch(c, EPOLLIN); }
  void send(Connection& c) override;
  void forget(Connection& c) override { events_[index_of(c)] = 0; }  // closing removes it from epoll
  void watch(Connection& c, std::uint32_t events);
  void on_readable(Connection& c);

  UniqueFd epoll_;
  std::vector<std::uint32_t> events_;  // what epoll watches now, per connection
  std::vector<epoll_event> ready_;
  std::vector<char> scratch_;
};

void EpollLoadThread::watch(Connection& c, std::uint32_t events) {
  std::uint32_t& watched = events_[index_of(c)];
  if (events == watched) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = index_of(c);
  ::epoll_ctl(epoll_.get(), watched == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
  watched = events;
}

void EpollLoadThread::wait(std::uint64_t timeout_ns) {
  const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
  const int n = ::epoll_pwait2(epoll_.get(), ready_.data(), static_cast<int>(ready_.size()), &timeout, nullptr);
  for (int k = 0; k < n; ++k) {
    const auto& ev = ready_[static_cast<std::size_t>(k)];
    Connection& c = connection(ev.data.u64);
    if (c.state == Connection::State::connecting) {
      on_connect_done(c);
      if (c.state == Connection::State::ready) watch(c, EPOLLIN);  // connected: no more EPOLLOUT
      continue;
    }
    if (c.state != Connection::State::ready) continue;
    if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    if (c.state == Connection::State::ready && (ev.events & EPOLLOUT)) send(c);
  }
}

void EpollLoadThread::send(Connection& c) {
  while (has_unsent(c)) {
    iovec iov[kMaxIov];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(pending_iov(c, iov, kMaxIov));
    const ssize_t n = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      on_broken(c);
      return;
    }
    sent(c, static_cast<std::size_t>(n));
  }
  watch(c, EPOLLIN | (has_unsent(c) ? EPOLLOUT : 0u));
}

void EpollLoadThread::on_readable(Connection& c) {
  ssize_t n;
  do {
    n = ::recv(c.fd.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {  // reset, or the server closed with requests outstanding
    on_broken(c);
    return;
  }
  on_bytes(c, {scratch_.data(), static_cast<std::size_t>(n)});
}

}  // namespace

std::unique_ptr<LoadThread> make_epoll_load_thread(const LoadConfig& config, std::size_t first, std::size_t count,
                                                   std::size_t idle, const std::atomic<std::uint64_t>& stop_ns) {
  return std::make_unique<EpollLoadThread>(config, first, count, idle, stop_ns);
}

}  // namespace mux
