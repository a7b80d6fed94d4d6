#include "harness/server/server_workers.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "core/wait_status.hpp"
#include "core/clock.hpp"
#include "harness/system/child_process.hpp"

namespace mux {
namespace {

constexpr std::uint64_t kStopGraceNs = 5'000'000'000;

void request_stop(int stop_fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_fd, &one, sizeof one);
}

bool stop_requested(int stop_fd) {
  pollfd stop{stop_fd, POLLIN, 0};
  return ::poll(&stop, 1, 0) > 0;  // the eventfd stays readable once written
}

// Worker p, in its process (a copy of the first): its loops until the server stops; its exit status.
int run_worker(const ServerShape& shape, const LoopsPlan& plan, std::size_t p) {
  const std::size_t first = p * shape.threads;
  LoopsPlan mine = plan;
  mine.loops = plan.loops.subspan(first, shape.threads);
  mine.cpus.clear();
  for (std::size_t i = 0; i < shape.threads && !plan.cpus.empty(); ++i)
    mine.cpus.push_back(plan.cpus[(first + i) % plan.cpus.size()]);
  if (shape.accept == AcceptMode::reuseport) {
    // Another worker's listener left open here would take its share of connections and never
    // accept them.
    mine.listen_fds.clear();
    for (std::size_t i = 0; i < plan.listen_fds.size(); ++i) {
      if (i >= first && i < first + shape.threads)
        mine.listen_fds.push_back(plan.listen_fds[i]);
      else
        ::close(plan.listen_fds[i]);
    }
  }
  try {
    run_loops(mine);
    return 0;
  } catch (const std::exception& e) {
    std::fputs(fmt::format("bench serve: error: worker {} failed: {}\n", p, e.what()).c_str(), stderr);
    return 1;
  }
}

}  // namespace

WorkerProcesses::WorkerProcesses(const ServerShape& shape, const LoopsPlan& plan) : stop_fd_(plan.stop_fd) {
  for (std::size_t p = 0; p < shape.processes; ++p) {
    // A copy of this process, which ends with it (PR_SET_PDEATHSIG): never outliving the
    // process that answers bench. It stays in this one's process group and tree (bench's).
    const ChildSpec worker{.path = {}, .argv = {}, .fds = {}, .cpus = std::nullopt, .own_group = false, .go_fd = -1,
                           .close_in_child = {}, .run = [&shape, &plan, p] { return run_worker(shape, plan, p); },
                           .join_tree = false};
    try {
      pids_.push_back(spawn_child(worker));
    } catch (const std::system_error& e) {
      request_stop(stop_fd_);
      reap_all();
      throw std::runtime_error(fmt::format("fork() of worker {}: {}", p, e.code().message()));
    }
    reaped_.push_back(false);
  }
}

WorkerProcesses::~WorkerProcesses() {
  request_stop(stop_fd_);
  reap_all();
}

void WorkerProcesses::wait() {
  for (;;) {
    pollfd stop{stop_fd_, POLLIN, 0};
    const int ready = ::poll(&stop, 1, 50);
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < pids_.size(); ++i) {
        int status = 0;
        if (reaped_[i] || ::waitpid(pids_[i], &status, WNOHANG) != pids_[i]) continue;
        reaped_[i] = true;
        // Asked to stop since the poll above? Then a worker ending with status 0 did as told.
        if (failure_.empty() && (!stop_requested(stop_fd_) || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
          failure_ = fmt::format("worker process {} (pid {}) {}", i, pids_[i], describe_wait_status(status));
      }
    }
    if (!failure_.empty()) request_stop(stop_fd_);  // one worker gone: stop the rest
    if (ready > 0 || !failure_.empty()) break;
  }
  reap_all();
  if (!failure_.empty()) throw std::runtime_error(failure_);
}

void WorkerProcesses::reap_all() {
  const std::uint64_t deadline = now_ns() + kStopGraceNs;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    while (!reaped_[i]) {
      int status = 0;
      const pid_t got = ::waitpid(pids_[i], &status, WNOHANG);
      if (got == pids_[i]) {
        reaped_[i] = true;
        if (failure_.empty() && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
          failure_ = fmt::format("worker process {} (pid {}) {} while stopping", i, pids_[i], describe_wait_status(status));
        break;
      }
      if (got < 0 && errno != EINTR) {  // not our child any more: nothing left to reap
        reaped_[i] = true;
        break;
      }
      if (now_ns() > deadline) {
        ::kill(pids_[i], SIGKILL);
        ::waitpid(pids_[i], &status, 0);
        reaped_[i] = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

double WorkerProcesses::cpu_us() {
  std::lock_guard lock(mutex_);
  double us = 0;
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    clockid_t clock{};
    timespec ts{};
    if (reaped_[i] || ::clock_getcpuclockid(pids_[i], &clock) != 0 || ::clock_gettime(clock, &ts) != 0) continue;
    us += static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  }
  rusage children{};
  if (::getrusage(RUSAGE_CHILDREN, &children) == 0)
    for (const timeval& tv : {children.ru_utime, children.ru_stime})
      us += static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
  return us;
}

}  // namespace mux
