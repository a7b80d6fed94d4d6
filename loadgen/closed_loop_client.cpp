#include "loadgen/closed_loop_client.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"

namespace mux {
namespace {
constexpr std::size_t kConnectBatch = 256;       // connects in flight at once per thread
constexpr std::uint64_t kHousekeepingNs = 50'000'000;
constexpr std::uint64_t kReconnectDelayNs = 100'000'000;  // a dead server must not make us spin
constexpr int kMaxIov = 16;
}  // namespace

// Requests of a connection are numbered; [recv_seq, next_issue) are in flight, of which
// [send_seq, next_issue) are not fully written yet.
struct ClosedLoopClient::Connection {
  enum class State : std::uint8_t { connecting, ready, backoff };
  UniqueFd fd;
  State state = State::backoff;
  std::uint32_t events = 0;        // what epoll watches now
  std::unique_ptr<ClientCodec> codec;
  std::uint64_t next_issue = 0;
  std::uint64_t send_seq = 0;
  std::size_t send_pos = 0;
  std::uint64_t recv_seq = 0;
  std::size_t reply_bytes = 0;     // of the reply being received, verified so far
  std::uint64_t since_ns = 0;      // connect started, or back-off started
  std::vector<std::uint64_t> issued_at;  // by seq % pipeline
};

ClosedLoopClient::ClosedLoopClient(const LoadConfig& config, std::size_t connections, const std::atomic<bool>& stop)
    : config_(config),
      stop_(stop),
      protocol_(make_client_protocol(config.protocol, config.message_size)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      conns_(connections),
      scratch_(64 * 1024),
      timeout_ns_(seconds_to_ns(config.timeout_s)) {
  if (!epoll_) throw std::runtime_error(fmt::format("epoll_create1(): {}", std::strerror(errno)));
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    conns_[i].codec = protocol_->make_codec(i);
    conns_[i].issued_at.resize(config.pipeline);
  }
}

ClosedLoopClient::~ClosedLoopClient() = default;

void ClosedLoopClient::watch(Connection& c, std::uint32_t events) {
  if (events == c.events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<std::uint64_t>(&c - conns_.data());
  ::epoll_ctl(epoll_.get(), c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.events = events;
}

std::string ClosedLoopClient::connect_all(std::uint64_t deadline_ns) {
  std::vector<epoll_event> ready(kConnectBatch);
  for (std::size_t first = 0; first < conns_.size(); first += kConnectBatch) {
    const std::size_t last = std::min(first + kConnectBatch, conns_.size());
    for (std::size_t i = first; i < last; ++i) {
      Connection& c = conns_[i];
      c.fd = start_connect(config_.target);
      if (!c.fd)
        return fmt::format("cannot open connection {} to {}: {}", i + 1, config_.target.to_string(),
                           std::strerror(errno));
      c.state = Connection::State::connecting;
      watch(c, EPOLLOUT);
    }
    for (std::size_t pending = last - first; pending > 0;) {
      const std::uint64_t now = now_ns();
      if (now >= deadline_ns || stop_.load(std::memory_order_relaxed))
        return fmt::format("timed out connecting to {} ({} connections still pending); is the server overloaded?",
                           config_.target.to_string(), pending);
      const int n = ::epoll_wait(epoll_.get(), ready.data(), static_cast<int>(ready.size()), 100);
      for (int k = 0; k < n; ++k) {
        Connection& c = conns_[ready[static_cast<std::size_t>(k)].data.u64];
        if (c.state != Connection::State::connecting) continue;
        if (const int err = socket_error(c.fd.get()); err != 0)
          return fmt::format("cannot connect to {}: {}; is the server running and listening there?",
                             config_.target.to_string(), std::strerror(err));
        c.state = Connection::State::ready;
        watch(c, EPOLLIN);
        --pending;
      }
    }
  }
  return {};
}

void ClosedLoopClient::run(std::uint64_t start_ns, std::uint64_t measure_ns, std::uint64_t end_ns) {
  measure_ns_ = measure_ns;
  end_ns_ = end_ns;
  if (const std::uint64_t now = now_ns(); now < start_ns)
    std::this_thread::sleep_for(std::chrono::nanoseconds(start_ns - now));
  running_ = true;
  for (Connection& c : conns_) on_connected(c, now_ns());

  std::vector<epoll_event> ready(1024);
  std::uint64_t next_housekeeping = now_ns() + kHousekeepingNs;
  while (!stop_.load(std::memory_order_relaxed)) {
    std::uint64_t now = now_ns();
    if (now >= end_ns) break;
    const int wait_ms = static_cast<int>(std::min<std::uint64_t>(50, (end_ns - now) / 1'000'000 + 1));
    const int n = ::epoll_wait(epoll_.get(), ready.data(), static_cast<int>(ready.size()), wait_ms);
    for (int k = 0; k < n; ++k) {
      const auto& ev = ready[static_cast<std::size_t>(k)];
      Connection& c = conns_[ev.data.u64];
      if (c.state == Connection::State::connecting) {
        if (socket_error(c.fd.get()) != 0) {
          result_.errors.connect++;
          back_off(c, now_ns());
        } else {
          on_connected(c, now_ns());
        }
        continue;
      }
      if (c.state != Connection::State::ready) continue;
      if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
      if (c.state == Connection::State::ready && (ev.events & EPOLLOUT)) flush(c);
    }
    if ((now = now_ns()) >= next_housekeeping) {
      housekeeping(now);
      next_housekeeping = now + kHousekeepingNs;
    }
  }
  running_ = false;
}

void ClosedLoopClient::on_connected(Connection& c, std::uint64_t now) {
  c.state = Connection::State::ready;
  c.send_seq = c.recv_seq = c.next_issue;
  c.send_pos = c.reply_bytes = 0;
  c.codec->reset();
  while (c.next_issue - c.recv_seq < config_.pipeline) issue(c, now);
  flush(c);
}

void ClosedLoopClient::issue(Connection& c, std::uint64_t now) {
  c.issued_at[c.next_issue % config_.pipeline] = now;
  ++c.next_issue;
}

void ClosedLoopClient::flush(Connection& c) {
  while (c.send_seq < c.next_issue) {
    iovec iov[kMaxIov];
    int n = 0;
    for (std::uint64_t seq = c.send_seq; seq < c.next_issue && n + 2 <= kMaxIov; ++seq)
      n += c.codec->request_iov(seq, seq == c.send_seq ? c.send_pos : 0, iov + n);
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n);
    const ssize_t sent = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(c, Fault::reset, now_ns());
      return;
    }
    for (auto left = static_cast<std::size_t>(sent); left > 0;) {  // a short write is normal
      const std::size_t rest = c.codec->request_size(c.send_seq) - c.send_pos;
      if (left < rest) {
        c.send_pos += left;
        break;
      }
      left -= rest;
      c.send_pos = 0;
      ++c.send_seq;
    }
  }
  watch(c, EPOLLIN | (c.send_seq < c.next_issue ? EPOLLOUT : 0u));
}

void ClosedLoopClient::on_readable(Connection& c) {
  ssize_t n;
  do {
    n = ::recv(c.fd.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {  // reset, or the server closed with requests outstanding
    fail(c, Fault::reset, now_ns());
    return;
  }
  std::span<const char> bytes(scratch_.data(), static_cast<std::size_t>(n));
  while (!bytes.empty()) {
    if (c.recv_seq == c.next_issue) {  // a reply nobody asked for
      fail(c, Fault::mismatch, now_ns());
      return;
    }
    const auto [consumed, state] = c.codec->on_reply(c.recv_seq, bytes);
    if (state == ClientCodec::State::invalid) {
      fail(c, Fault::mismatch, now_ns());
      return;
    }
    bytes = bytes.subspan(consumed);
    c.reply_bytes += consumed;
    if (state == ClientCodec::State::incomplete) break;
    const std::uint64_t now = now_ns();
    if (now >= measure_ns_ && now < end_ns_) {
      result_.latency.record(now - c.issued_at[c.recv_seq % config_.pipeline]);
      result_.requests++;
      result_.bytes_verified += c.reply_bytes;
    }
    c.reply_bytes = 0;
    ++c.recv_seq;
    if (now < end_ns_) issue(c, now);
  }
  flush(c);
}

void ClosedLoopClient::fail(Connection& c, Fault fault, std::uint64_t now) {
  switch (fault) {
    case Fault::reset: result_.errors.reset++; break;
    case Fault::mismatch: result_.errors.mismatch++; break;
    case Fault::timeout: result_.errors.timeout++; break;
  }
  back_off(c, now);
}

// Drops the connection; housekeeping() opens a new one after kReconnectDelayNs.
void ClosedLoopClient::back_off(Connection& c, std::uint64_t now) {
  c.fd.reset();  // closing removes it from epoll
  c.events = 0;
  c.state = Connection::State::backoff;
  c.since_ns = now;
}

void ClosedLoopClient::reopen(Connection& c, std::uint64_t now) {
  result_.reconnects++;
  c.since_ns = now;
  c.fd = start_connect(config_.target);
  if (!c.fd) {
    result_.errors.connect++;
    return;  // stays in back-off and tries again later
  }
  c.state = Connection::State::connecting;
  watch(c, EPOLLOUT);
}

void ClosedLoopClient::housekeeping(std::uint64_t now) {
  for (Connection& c : conns_) {
    switch (c.state) {
      case Connection::State::ready:
        if (c.recv_seq < c.next_issue && now - c.issued_at[c.recv_seq % config_.pipeline] > timeout_ns_)
          fail(c, Fault::timeout, now);
        break;
      case Connection::State::connecting:
        if (now - c.since_ns > timeout_ns_) {
          result_.errors.connect++;
          back_off(c, now);
        }
        break;
      case Connection::State::backoff:
        if (now - c.since_ns >= kReconnectDelayNs) reopen(c, now);
        break;
    }
  }
}

}  // namespace mux
