#include "loadgen/load_generator.hpp"

#include <algorithm>
#include <latch>

#include "core/clock.hpp"
#include "loadgen/load_thread.hpp"

namespace mux {

LoadGenerator::LoadGenerator(LoadConfig config) : config_(std::move(config)), stop_ns_(kNotStopped) {}

void LoadGenerator::request_stop() { request_stop_at(now_ns()); }

void LoadGenerator::request_stop_at(std::uint64_t stop_ns) {
  // A thread stamps a reply, then reads stop_ns_: a reply stamped within the few ns it takes
  // this store to reach the other cores could still count. Nothing else after the stop can.
  std::uint64_t not_yet = kNotStopped;
  stop_ns_.compare_exchange_strong(not_yet, stop_ns, std::memory_order_acq_rel);
}

LoadGenerator::Window LoadGenerator::measured_window() const {
  const std::uint64_t end = std::min(end_ns_, stop_ns_.load(std::memory_order_acquire));
  return {measure_ns_, std::max(measure_ns_, end)};
}

LoadGenerator::~LoadGenerator() {
  request_stop();
  go_.store(true);
  go_.notify_all();
}

void LoadGenerator::start(const std::function<void()>& before_clock) {
  connect();
  if (before_clock) before_clock();
  start_at(now_ns());
}

void LoadGenerator::connect() {
  const std::size_t t = std::max<std::size_t>(1, std::min(config_.threads, config_.clients));
  connect_errors_.resize(t);
  std::latch connected(static_cast<std::ptrdiff_t>(t));
  const std::uint64_t connect_deadline = now_ns() + seconds_to_ns(std::max(10.0, config_.timeout_s));
  for (std::size_t i = 0, first = 0; i < t; ++i) {
    // Connections split as evenly as possible: the first (clients % t) threads take one more.
    const std::size_t share = config_.clients / t + (i < config_.clients % t ? 1 : 0);
    const std::size_t idle = config_.idle / t + (i < config_.idle % t ? 1 : 0);
    clients_.push_back(LoadThread::make(config_, first, share, idle, stop_ns_));
    first += share;
  }
  // Only now start the threads: clients_ must not grow (and move) while they read it.
  for (std::size_t i = 0; i < t; ++i) {
    threads_.emplace_back([this, i, &connected, connect_deadline] {
      if (!config_.cpus.empty()) pin_thread(config_.cpus[i % config_.cpus.size()]);
      connect_errors_[i] = clients_[i]->connect_all(connect_deadline);
      connected.count_down();
      go_.wait(false);
      if (stop_ns_.load() == kNotStopped) clients_[i]->run(start_ns_, measure_ns_, end_ns_);
    });
  }
  connected.wait();
  for (const auto& error : connect_errors_) {
    if (error.empty()) continue;
    request_stop();
    go_.store(true);
    go_.notify_all();
    threads_.clear();  // joins
    throw UsageError(error);
  }
}

void LoadGenerator::start_at(std::uint64_t start_ns) {
  start_ns_ = start_ns;
  measure_ns_ = start_ns_ + seconds_to_ns(config_.warmup_s);
  end_ns_ = measure_ns_ + seconds_to_ns(config_.duration_s);
  go_.store(true);
  go_.notify_all();
}

std::uint64_t LoadGenerator::completed_so_far() const {
  std::uint64_t n = 0;
  for (const auto& c : clients_) n += c->completed_so_far();
  return n;
}

std::uint64_t LoadGenerator::errors_so_far() const {
  std::uint64_t n = 0;
  for (const auto& c : clients_) n += c->errors_so_far();
  return n;
}

LoadResult LoadGenerator::join() {
  threads_.clear();
  LoadResult total;
  for (const auto& c : clients_) total.merge(c->result());
  if (config_.rate <= 0) total.latency_uncorrected = total.latency;  // closed loop: sent when due
  return total;
}

}  // namespace mux
