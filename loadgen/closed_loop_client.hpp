#pragma once
// One load-generator thread: its share of the connections on its own epoll loop. Closed loop:
// each connection keeps `pipeline` requests in flight and issues the next one the moment a
// reply has been received and verified byte for byte.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/protocol.hpp"
#include "core/unique_fd.hpp"
#include "loadgen/load_config.hpp"

namespace mux {

class ClosedLoopClient {
 public:
  ClosedLoopClient(const LoadConfig& config, std::size_t connections, const std::atomic<bool>& stop);
  ~ClosedLoopClient();

  // Opens every connection; returns an empty string, or what went wrong (one line).
  std::string connect_all(std::uint64_t deadline_ns);
  // Sends load from start_ns, records replies completed in [measure_ns, end_ns), stops at end_ns.
  void run(std::uint64_t start_ns, std::uint64_t measure_ns, std::uint64_t end_ns);
  const LoadResult& result() const { return result_; }

 private:
  struct Connection;
  enum class Fault { reset, mismatch, timeout };

  void on_readable(Connection& c);
  void flush(Connection& c);
  void issue(Connection& c, std::uint64_t now);
  void fail(Connection& c, Fault fault, std::uint64_t now);
  void back_off(Connection& c, std::uint64_t now);
  void reopen(Connection& c, std::uint64_t now);
  void on_connected(Connection& c, std::uint64_t now);
  void housekeeping(std::uint64_t now);
  void watch(Connection& c, std::uint32_t events);

  const LoadConfig& config_;
  const std::atomic<bool>& stop_;
  std::unique_ptr<ClientProtocol> protocol_;
  UniqueFd epoll_;
  std::vector<Connection> conns_;
  std::vector<char> scratch_;
  std::uint64_t measure_ns_ = 0;
  std::uint64_t end_ns_ = 0;
  std::uint64_t timeout_ns_;
  bool running_ = false;
  LoadResult result_;
};

}  // namespace mux
