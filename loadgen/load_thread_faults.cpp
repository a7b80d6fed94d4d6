// A load connection's faults and its way back: an error counted against the second it fell in,
// the back-off after it, the reconnect, and the timeouts housekeeping() finds.
#include "loadgen/load_connection.hpp"
#include "loadgen/load_thread.hpp"

namespace mux {
namespace {
constexpr std::uint64_t kReconnectDelayNs = 100'000'000;  // a dead server must not make us spin
}  // namespace

void LoadThread::fail(Connection& c, Fault fault, std::uint64_t now) {
  switch (fault) {
    case Fault::reset: result_.errors.reset++; break;
    case Fault::mismatch: result_.errors.mismatch++; break;
    case Fault::timeout: result_.errors.timeout++; break;
  }
  if (Interval* second = interval_at(now)) second->errors++;
  back_off(c, now);
}

// Drops the connection; housekeeping() opens a new one after kReconnectDelayNs.
void LoadThread::back_off(Connection& c, std::uint64_t now) {
  if (c.fd) forget(c);
  c.fd.reset();
  c.state = Connection::State::backoff;
  c.since_ns = now;
}

void LoadThread::reopen(Connection& c, std::uint64_t now) {
  if (!c.churning) result_.reconnects++;
  c.since_ns = now;
  c.fd = start_connect(config_.target, source_for(static_cast<std::size_t>(&c - conns_.data())));
  if (!c.fd) {
    result_.errors.connect++;
    return;  // stays in back-off and tries again later
  }
  c.state = Connection::State::connecting;
  watch_connect(c);
}

void LoadThread::housekeeping(std::uint64_t now) {
  for (Connection& c : conns_) {
    switch (c.state) {
      case Connection::State::ready:
        if (c.recv_seq < c.next_issue && now - c.issued[c.recv_seq % config_.pipeline].sent_ns > timeout_ns_)
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
