#include "harness/mpi/mpi_load.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/limits.hpp"
#include "core/usage_error.hpp"
#include "harness/system/stop_signals.hpp"

namespace mux {
namespace {

constexpr int kStopTag = 2;
constexpr int kResultTag = 3;
constexpr int kClockRounds = 32;
constexpr std::uint64_t kSignalledWaitNs = 500'000'000;

// Rank 0's instant on this rank's clock, and back.
std::uint64_t to_local(std::uint64_t root_ns, const ClockOffset& c) {
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(root_ns) - c.offset_ns);
}
std::uint64_t to_root(std::uint64_t local_ns, const ClockOffset& c) {
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(local_ns) + c.offset_ns);
}

}  // namespace

LoadConfig rank_share(const LoadConfig& config, const MpiWorld& world, bool root_serves) {
  const int first = root_serves ? 1 : 0;
  LoadConfig mine = shard_config(config, static_cast<std::size_t>(world.size() - first),
                                 static_cast<std::size_t>(world.rank() - first));
  mine.threads = config.threads;
  return mine;
}

MpiLoad::MpiLoad(const LoadConfig& config, const MpiWorld& world, bool root_serves, bool count_kernel)
    : world_(world), first_load_rank_(root_serves ? 1 : 0), config_(config), hosts_(world.gather(host_name())) {
  if (world.rank() < first_load_rank_) return;
  if (!world.root())
    counters_.emplace(count_kernel ? KernelCounters::open_for_this_process() : KernelCounters(kCountersTurnedOff));
  mine_ = rank_share(config, world, root_serves);
  local_.emplace(mine_);
}

void MpiLoad::start(const std::function<void()>& before_clock, const std::string& rank_error) {
  std::string error = rank_error;
  if (error.empty() && local_) {
    try {
      local_->connect();
    } catch (const UsageError& e) {
      error = e.what();
    }
  }
  if (const auto first = world_.first_error(error)) throw UsageError(*first);
  if (before_clock) before_clock();
  clock_ = world_.measure_clock_offset(kClockRounds);
  // As IOR: the barrier right before the start instant; rank 0's exit from it is the origin.
  world_.barrier();  // opens the connections the barrier uses (TCP's are opened at first use)
  const std::uint64_t exit_ns = world_.barrier();
  const std::uint64_t root_exit_ns = world_.broadcast(exit_ns);
  const std::uint64_t start = to_local(root_exit_ns + kShardStartMarginNs, clock_);
  if (local_) {
    local_->start_at(start);
  } else {
    start_ns_ = start;
    measure_ns_ = start + seconds_to_ns(config_.warmup_s);
    end_ns_ = measure_ns_ + seconds_to_ns(config_.duration_s);
  }
  // What the barrier and the clocks were, for results.mpi (after the start instant is set).
  const std::vector<std::string> texts =
      world_.gather(fmt::format("{} {} {}", clock_.offset_ns, clock_.rtt_ns, to_root(exit_ns, clock_)));
  for (const std::string& text : texts) {
    std::istringstream in(text);
    ClockOffset c;
    std::uint64_t exit_root = 0;
    in >> c.offset_ns >> c.rtt_ns >> exit_root;
    offsets_.push_back(c);
    barrier_exit_ns_.push_back(exit_root);
  }
}

LoadGenerator::Window MpiLoad::measured_window() const {
  if (local_) return local_->measured_window();
  return {measure_ns_, std::max(measure_ns_, std::min(end_ns_, stop_ns_))};
}

void MpiLoad::request_stop() {
  if (local_)
    local_->request_stop();
  else
    stop_ns_ = std::min(stop_ns_, now_ns());
  if (!world_.root()) return;
  const std::string stop = std::to_string(measured_window().end_ns);
  for (int rank = 1; rank < world_.size(); ++rank) {
    try {
      world_.send(rank, kStopTag, stop);
    } catch (const std::exception&) {
      // A rank that is gone: join() reports it.
    }
  }
}

std::vector<ShardReport> MpiLoad::join(std::uint64_t deadline_ns) {
  // One report per load rank: report i is rank first_load_rank_ + i's.
  std::vector<ShardReport> reports(load_ranks());
  for (std::size_t i = 0; i < reports.size(); ++i) {
    reports[i].host = hosts_.at(i + static_cast<std::size_t>(first_load_rank_));
    reports[i].clients = shard_config(config_, reports.size(), i).clients;
  }
  std::vector<bool> arrived(reports.size(), false);
  std::size_t waiting = reports.size();
  if (local_) {
    reports[0].pid = ::getpid();
    reports[0].load = local_->join();
    arrived[0] = true;
    --waiting;
  }
  // Stopped by a signal (mpirun sends SIGTERM to every rank once one has died, and SIGKILL
  // 1 s later): the others' results within half a second, so that the partial ones are written.
  if (stop_signal() != 0) deadline_ns = std::min(deadline_ns, now_ns() + kSignalledWaitNs);
  while (waiting > 0 && now_ns() < deadline_ns) {
    const auto message = world_.try_receive(kResultTag);
    if (!message) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const auto i = static_cast<std::size_t>(message->first - first_load_rank_);
    reports[i] = nlohmann::json::parse(message->second).get<ShardReport>();
    arrived[i] = true;
    --waiting;
  }
  for (std::size_t i = 0; i < reports.size(); ++i)
    if (!arrived[i]) {
      const std::size_t rank = i + static_cast<std::size_t>(first_load_rank_);
      reports[i].failure = fmt::format("rank {} ({}) sent no result by the deadline (it died or hangs)", rank, hosts_[rank]);
    }
  return reports;
}

void MpiLoad::run_rank(double rss_before, const std::string& rank_error) {
  start({}, rank_error);
  // Until the window's start, then to its end: watch for rank 0's stop meanwhile.
  bool stopped = false;
  const auto watch_until = [&](std::uint64_t deadline) {
    while (!stopped && now_ns() < deadline) {
      if (const auto stop = world_.try_receive(kStopTag)) {
        local_->request_stop_at(to_local(std::stoull(stop->second), clock_));
        stopped = true;
      } else if (stop_signal() != 0) {  // rank 0 was signalled too (mpirun forwards), or will be
        local_->request_stop();
        stopped = true;
      }
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::uint64_t>(2'000'000, deadline - std::min(deadline, now_ns()))));
    }
    return stopped;
  };
  const ShardReport report = measure_shard(*local_, mine_.clients, rss_before, watch_until, &*counters_);
  world_.send(0, kResultTag, nlohmann::json(report).dump());
}

nlohmann::ordered_json MpiLoad::describe() const {
  using nlohmann::ordered_json;
  ordered_json offsets = ordered_json::array(), uncertainty = ordered_json::array(), exits = ordered_json::array();
  const auto [first, last] = std::minmax_element(barrier_exit_ns_.begin(), barrier_exit_ns_.end());
  for (std::size_t rank = 0; rank < offsets_.size(); ++rank) {
    offsets.push_back(static_cast<double>(offsets_[rank].offset_ns) / 1e3);
    uncertainty.push_back(static_cast<double>(offsets_[rank].rtt_ns) / 2e3);
    exits.push_back(static_cast<double>(barrier_exit_ns_[rank] - *first) / 1e3);
  }
  return {{"ranks", world_.size()},
          {"load_ranks", load_ranks()},
          // `mpirun ... bench --backend=B`: rank 0 runs the server (its CPU and kernel counters
          // are results.server_*), the others the load; `bench load`: every rank loads.
          {"server_rank", root_loads() ? ordered_json() : ordered_json(0)},
          {"hosts", hosts_},
          {"distinct_hosts", std::set<std::string>(hosts_.begin(), hosts_.end()).size()},
          {"clock_offset_us", offsets},
          {"clock_offset_uncertainty_us", uncertainty},
          {"barrier_exit_us", exits},
          {"barrier_exit_skew_us", static_cast<double>(*last - *first) / 1e3},
          {"kernel_counters", "each load rank counts its own process over its window (results.shards[].kernel_counters); "
                              "results.kernel_counters.loadgen is their sum per request of them all"}};
}

nlohmann::ordered_json add_up_load_ranks(bool root_loads, const std::optional<KernelSnapshot>& root_window,
                                         std::vector<ShardReport>& shards, std::uint64_t requests) {
  constexpr const char* kAttribution =
      "every load rank's process, each counted by itself over its own window (its threads included; system calls "
      "by eBPF or perf_event, context switches and page faults from its getrusage), added up rank by rank";
  if (root_loads && !shards.empty()) shards.front().kernel = root_window;  // rank 0's shard, counted by measure()
  std::vector<KernelSnapshot> windows;
  std::vector<std::string> labels;
  std::string missing;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string label = fmt::format("rank {} ({})", root_loads ? i : i + 1, shards[i].host);
    if (!shards[i].kernel) {
      if (missing.empty()) missing = label + " sent no counts";
      continue;
    }
    windows.push_back(*shards[i].kernel);
    labels.push_back(label);
  }
  if (!missing.empty() || windows.empty()) {
    const KernelSnapshot nothing =
        KernelCounters(missing.empty() ? "no load rank reported" : missing + ", so the load side's sum is unknown").snapshot();
    return kernel_window_json(nothing, nothing, 0, kAttribution);
  }
  return window_json(sum_windows(windows, labels), requests, kAttribution);
}

}  // namespace mux
