#include "loadgen/load_thread.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/request_work.hpp"
#include "core/thread_cpu.hpp"
#include "loadgen/load_connection.hpp"
#include "loadgen/uring_probe.hpp"

namespace mux {
namespace {
constexpr std::size_t kConnectBatch = 256;       // connects in flight at once per thread
constexpr std::uint64_t kConnectWaitNs = 100'000'000;
constexpr std::uint64_t kHousekeepingNs = 50'000'000;
constexpr const char* kThisThreadSchedstat = "/proc/thread-self/schedstat";

// splitmix64: 8 bytes of state per connection for its Poisson arrivals.
std::uint64_t next_random(std::uint64_t& state) { return mix64(state += 0x9e3779b97f4a7c15ULL); }
}  // namespace

LoadThread::LoadThread(const LoadConfig& config, std::size_t first, std::size_t count, std::size_t idle,
                       const std::atomic<std::uint64_t>& stop_ns)
    : config_(config),
      stop_ns_(stop_ns),
      first_(first),
      protocol_(make_client_protocol(config.protocol, {.message_size = config.message_size,
                                                         .seed = config.seed,
                                                         .work_us = config.work_us,
                                                         .expected_body = config.expected_body})),
      conns_(count + idle),
      timeout_ns_(seconds_to_ns(config.timeout_s)),
      work_split_ns_(work_ns(config.work_us.median())) {
  if (!protocol_) throw std::runtime_error(fmt::format("unknown protocol '{}'", config.protocol));
  if (!config.work_us.is_fixed()) result_.latency_by_work_class.resize(2);  // short, long
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    conns_[i].codec = protocol_->make_codec(first + i);
    conns_[i].issued.resize(config.pipeline);
    conns_[i].random_state = config.seed * 0x2545F4914F6CDD1DULL + first + i;
    conns_[i].idle = i >= count;
  }
}

const SocketAddress* LoadThread::source_for(std::size_t index) const {
  const auto& sources = config_.sources;
  return sources.empty() ? nullptr : &sources[(first_ + index) % sources.size()];
}

LoadThread::~LoadThread() = default;

std::unique_ptr<LoadThread> LoadThread::make(const LoadConfig& config, std::size_t first, std::size_t count,
                                             std::size_t idle, const std::atomic<std::uint64_t>& stop_ns) {
  // bench settles `automatic` before the run (so the JSON names the model); a caller that did
  // not gets the same choice here.
  const bool uring = config.io == LoadConfig::Io::io_uring ||
                     (config.io == LoadConfig::Io::automatic && uring_load_unavailable_reason().empty());
  return uring ? make_uring_load_thread(config, first, count, idle, stop_ns)
               : make_epoll_load_thread(config, first, count, idle, stop_ns);
}

std::string LoadThread::connect_all(std::uint64_t deadline_ns) {
  std::string error;
  try {
    error = open_connections(deadline_ns);
  } catch (const std::runtime_error& e) {  // the I/O model cannot run here (an io_uring ring refused)
    error = e.what();
  }
  if (!error.empty()) finish_io();
  return error;
}

// In batches of kConnectBatch connects in flight; the connections opened wait, silent, for run().
std::string LoadThread::open_connections(std::uint64_t deadline_ns) {
  for (std::size_t first = 0; first < conns_.size(); first += kConnectBatch) {
    const std::size_t last = std::min(first + kConnectBatch, conns_.size());
    for (std::size_t i = first; i < last; ++i) {
      Connection& c = conns_[i];
      c.fd = start_connect(config_.target, source_for(i));
      if (!c.fd)
        return fmt::format("cannot open connection {} to {}: {}", first_ + i + 1, config_.target.to_string(),
                           std::strerror(errno));
      c.state = Connection::State::connecting;
      watch_connect(c);
    }
    const auto pending = [&] {
      return std::count_if(conns_.begin() + static_cast<std::ptrdiff_t>(first),
                           conns_.begin() + static_cast<std::ptrdiff_t>(last),
                           [](const Connection& c) { return c.state == Connection::State::connecting; });
    };
    for (auto left = pending(); left > 0; left = pending()) {
      const std::uint64_t now = now_ns();
      if (now >= deadline_ns || stopped(now))
        return fmt::format("timed out connecting to {} ({} connections still pending); is the server overloaded?",
                           config_.target.to_string(), left);
      wait(std::min(kConnectWaitNs, deadline_ns - now));
      if (!connect_error_.empty()) return connect_error_;
    }
  }
  return {};
}

void LoadThread::run(std::uint64_t start_ns, std::uint64_t measure_ns, std::uint64_t end_ns) {
  // The default 50 µs timer slack would make every scheduled send up to 50 µs late.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  measure_ns_ = measure_ns;
  end_ns_ = end_ns;
  result_.timeline.resize(static_cast<std::size_t>(std::ceil(static_cast<double>(end_ns - measure_ns) / 1e9)));
  schedule_origin_ns_ = start_ns;
  if (open_loop()) {
    for (Connection& c : conns_) {
      c.next_due_ns = start_ns;
      advance_schedule(c);  // the connection's first due time: its phase in the global schedule
    }
  }
  if (const std::uint64_t now = now_ns(); now < start_ns)
    std::this_thread::sleep_for(std::chrono::nanoseconds(start_ns - now));
  running_ = true;
  for (Connection& c : conns_) on_connected(c, now_ns());

  std::uint64_t next_housekeeping = now_ns() + kHousekeepingNs;
  // This thread's CPU over the measured interval, sampled on its first wake-up at or after each
  // edge: a thread asleep at an edge uses no CPU until it wakes.
  std::optional<SchedTimes> cpu_at_measure;
  for (;;) {
    std::uint64_t now = now_ns();
    if (!cpu_at_measure && now >= measure_ns) cpu_at_measure = read_thread_sched(kThisThreadSchedstat);
    if (now >= end_ns || stopped(now)) break;
    std::uint64_t wake = std::min({end_ns, next_housekeeping});
    if (now < measure_ns) wake = std::min(wake, measure_ns);
    if (!timers_.empty()) wake = std::min(wake, timers_.top().due_ns);
    wait(wake > now ? wake - now : 0);
    now = now_ns();
    fire_timers(now);
    if (now >= next_housekeeping) {
      housekeeping(now);
      next_housekeeping = now + kHousekeepingNs;
    }
    progress_completed_.store(completed_, std::memory_order_relaxed);
    progress_errors_.store(result_.errors.total(), std::memory_order_relaxed);
  }
  finish_io();
  result_.completed_total = completed_;
  result_.sent_total = sent_;
  if (const auto cpu_at_end = read_thread_sched(kThisThreadSchedstat); cpu_at_measure && cpu_at_end) {
    const SchedTimes used = sched_times_since(*cpu_at_measure, *cpu_at_end);
    result_.thread_cpu_ns.push_back(used.on_cpu_ns);
    result_.thread_waiting_ns.push_back(used.waiting_ns);
  }
}

// Constant: connection g of N sends at start + (g + j N) / rate, so the connections' schedules
// interleave into one even stream at any rate, including rates below N or below 1/s.
// Poisson: independent exponential gaps at rate / N per connection; their sum is Poisson at rate.
void LoadThread::advance_schedule(Connection& c) {
  const auto n = static_cast<double>(config_.clients);
  if (config_.arrival == LoadConfig::Arrival::constant) {
    const auto g = static_cast<double>(first_ + static_cast<std::size_t>(&c - conns_.data()));
    const double offset_s = (g + static_cast<double>(c.scheduled) * n) / config_.rate;
    c.next_due_ns = schedule_origin_ns_ + static_cast<std::uint64_t>(offset_s * 1e9);
  } else {
    const double u = (static_cast<double>(next_random(c.random_state) >> 11) + 0.5) * 0x1.0p-53;  // in (0,1)
    c.next_due_ns += static_cast<std::uint64_t>(-std::log(u) / (config_.rate / n) * 1e9);
  }
  ++c.scheduled;
}

// Issues every request the connection may send now: in a closed loop, up to `pipeline` in
// flight; in an open loop, those already due (late ones at once), with a timer for the next.
void LoadThread::issue_due(Connection& c, std::uint64_t now) {
  if (c.state != Connection::State::ready || c.idle) return;
  while (c.next_issue - c.recv_seq < config_.pipeline && now < end_ns_ &&
         (config_.churn == 0 || c.issued_here < config_.churn)) {
    std::uint64_t due = now;
    if (open_loop()) {
      if (c.next_due_ns > now) {
        if (c.timer_due_ns != c.next_due_ns) {
          c.timer_due_ns = c.next_due_ns;
          timers_.push({c.next_due_ns, static_cast<std::size_t>(&c - conns_.data())});
        }
        return;
      }
      due = c.next_due_ns;
      advance_schedule(c);
    }
    c.issued[c.next_issue % config_.pipeline] = {due, now};
    ++c.next_issue;
    ++c.issued_here;
  }
}

void LoadThread::fire_timers(std::uint64_t now) {
  while (!timers_.empty() && timers_.top().due_ns <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    Connection& c = conns_[t.conn];
    if (c.timer_due_ns != t.due_ns) continue;  // superseded
    c.timer_due_ns = 0;
    issue_due(c, now);
    flush(c);
  }
}

void LoadThread::on_connected(Connection& c, std::uint64_t now) {
  if (c.churning) {
    c.churning = false;
    if (interval_at(now) != nullptr) {
      result_.churn_connects++;
      result_.connect_latency.record(now - c.since_ns);
    }
  }
  c.state = Connection::State::ready;
  c.issued_here = 0;
  c.send_seq = c.recv_seq = c.next_issue;
  c.send_pos = c.reply_bytes = 0;
  c.codec->reset();
  watch_replies(c);
  issue_due(c, now);
  flush(c);
}

void LoadThread::flush(Connection& c) {
  if (c.state == Connection::State::ready) send(c);
}

int LoadThread::pending_iov(const Connection& c, iovec* iov, int max) const {
  int n = 0;
  for (std::uint64_t seq = c.send_seq; seq < c.next_issue && n + 2 <= max; ++seq)
    n += c.codec->request_iov(seq, seq == c.send_seq ? c.send_pos : 0, iov + n);
  return n;
}

void LoadThread::sent(Connection& c, std::size_t bytes) {
  for (std::size_t left = bytes; left > 0;) {  // a short write is normal
    const std::size_t rest = c.codec->request_size(c.send_seq) - c.send_pos;
    if (left < rest) {
      c.send_pos += left;
      break;
    }
    left -= rest;
    c.send_pos = 0;
    ++c.send_seq;
    ++sent_;
  }
}

void LoadThread::on_connect_done(Connection& c) {
  if (c.state != Connection::State::connecting) return;
  const int err = socket_error(c.fd.get());
  if (!running_) {  // connect_all(): a refused connect is the user's error; the others wait for run()
    if (err != 0 && connect_error_.empty())
      connect_error_ = fmt::format("cannot connect to {}: {}; is the server running and listening there?",
                                   config_.target.to_string(), std::strerror(err));
    if (err == 0) c.state = Connection::State::ready;
    return;
  }
  if (err != 0) {
    result_.errors.connect++;
    back_off(c, now_ns());
  } else {
    on_connected(c, now_ns());
  }
}

void LoadThread::on_broken(Connection& c) {
  if (running_ && c.state == Connection::State::ready) fail(c, Fault::reset, now_ns());
}

void LoadThread::on_bytes(Connection& c, std::span<const char> bytes) {
  if (!running_ || c.state != Connection::State::ready) return;
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
    on_reply(c, now_ns());
    if (c.state != Connection::State::ready) return;  // replaced (--churn)
  }
  flush(c);
}

void LoadThread::on_reply(Connection& c, std::uint64_t now) {
  const auto& issued = c.issued[c.recv_seq % config_.pipeline];
  if (Interval* second = interval_at(now)) {
    result_.latency.record(now - issued.due_ns);
    if (!result_.latency_by_work_class.empty())  // long: drawn work above the median
      result_.latency_by_work_class[c.codec->request_work_ns(c.recv_seq) > work_split_ns_].record(now - issued.due_ns);
    if (open_loop()) result_.latency_uncorrected.record(now - issued.sent_ns);
    result_.requests++;
    result_.bytes_verified += c.reply_bytes;
    second->requests++;
    second->latency.record(now - issued.due_ns);
  }
  ++completed_;
  c.reply_bytes = 0;
  ++c.recv_seq;
  if (config_.churn > 0 && c.issued_here == config_.churn && c.recv_seq == c.next_issue) {
    // --churn: this connection has done its share; a new one takes its place at once.
    back_off(c, now);
    c.churning = true;
    reopen(c, now);
    return;
  }
  issue_due(c, now);
}

// The second of the measured interval that `now` falls in, or nullptr outside it. The interval
// ends early at the stop time, so an interrupted run counts exactly up to it.
Interval* LoadThread::interval_at(std::uint64_t now) {
  if (now < measure_ns_ || now >= end_ns_ || stopped(now)) return nullptr;
  const auto i = static_cast<std::size_t>((now - measure_ns_) / 1'000'000'000ULL);
  return i < result_.timeline.size() ? &result_.timeline[i] : nullptr;
}

}  // namespace mux
