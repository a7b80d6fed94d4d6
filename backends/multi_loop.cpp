#include "backends/multi_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "backends/connection_core.hpp"
#include "core/acceptor.hpp"
#include "core/net.hpp"
#include "core/unique_fd.hpp"

namespace mux {

// A write of 4 bytes to a pipe is atomic, so reads of whole ints return whole ints.
void take_handed_off_fds(int handoff_fd, const std::function<void(int)>& take) {
  int fds[256];
  for (;;) {
    const ssize_t n = ::read(handoff_fd, fds, sizeof fds);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof(int); ++i) take(fds[i]);
  }
}

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "loop records are shared between processes");

SharedLoopRecords::SharedLoopRecords(std::size_t count) : count_(count) {
  bytes_ = sizeof(ServerCounters) + count * sizeof(LoopRecord);
  memory_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory_ == MAP_FAILED) throw std::runtime_error(fmt::format("mmap(loop records): {}", std::strerror(errno)));
  acceptors_ = new (memory_) ServerCounters();
  records_ = reinterpret_cast<LoopRecord*>(static_cast<char*>(memory_) + sizeof(ServerCounters));
  for (std::size_t i = 0; i < count; ++i) new (&records_[i]) LoopRecord();
}

SharedLoopRecords::~SharedLoopRecords() {
  // The records are trivially destructible atomics: unmapping is their end.
  ::munmap(memory_, bytes_);
}

std::uint64_t counter_total(const SharedLoopRecords& records, std::atomic<std::uint64_t> ServerCounters::*counter) {
  std::uint64_t sum = (records.acceptors().*counter).load();
  for (const LoopRecord& loop : records.all()) sum += (loop.counters.*counter).load();
  return sum;
}

namespace {

std::uint64_t this_thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

void request_stop(int stop_fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_fd, &one, sizeof one);
}

// --accept=handoff: accepts on the one listener and hands each connection to the loop with the
// fewest open. A loop's open count is what it was handed less what it has closed, so a burst
// of accepts spreads before any loop has read its pipe.
class HandoffAcceptor {
 public:
  HandoffAcceptor(const LoopsPlan& plan, std::vector<UniqueFd> pipe_writers)
      : plan_(plan), writers_(std::move(pipe_writers)), handed_(writers_.size(), 0) {}

  void run() {
    ServerAcceptor acceptor(plan_.listen_fds.front(), *plan_.acceptor_counters);
    acceptor.accept_until_stopped(plan_.stop_fd, [this](int fd) { hand_over(fd); });
  }

 private:
  void hand_over(int fd) {
    std::size_t best = 0;
    std::uint64_t fewest = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < writers_.size(); ++i) {
      const std::uint64_t closed = plan_.loops[i].counters.closed.load(std::memory_order_relaxed);
      const std::uint64_t open = handed_[i] > closed ? handed_[i] - closed : 0;
      if (open < fewest) {
        fewest = open;
        best = i;
      }
    }
    if (::write(writers_[best].get(), &fd, sizeof fd) != static_cast<ssize_t>(sizeof fd)) {
      ::close(fd);  // the loop is 16,000 connections behind (a full pipe): refuse, do not block
      plan_.acceptor_counters->refused++;
      return;
    }
    ++handed_[best];
  }

  const LoopsPlan& plan_;
  std::vector<UniqueFd> writers_;
  std::vector<std::uint64_t> handed_;
};

// Connections handed over but never read by their loop (it stopped first): closed unserved.
void close_unread(int pipe_reader) {
  int fds[256];
  for (ssize_t n; (n = ::read(pipe_reader, fds, sizeof fds)) > 0;)
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof(int); ++i) ::close(fds[i]);
}

}  // namespace

bool wait_until_started(std::span<const LoopRecord> loops, int stop_fd) {
  for (int waited_ms = 0; waited_ms < 10'000; ++waited_ms) {
    bool all = true;
    for (const LoopRecord& loop : loops) all = all && loop.started.load();
    if (all) return true;
    pollfd stop{stop_fd, POLLIN, 0};
    if (::poll(&stop, 1, 1) > 0) return false;
  }
  return false;
}

void run_loops(const LoopsPlan& plan) {
  const std::size_t count = plan.loops.size();
  std::vector<UniqueFd> readers, writers;
  if (plan.mode == AcceptMode::handoff) {
    for (std::size_t i = 0; i < count; ++i) {
      int p[2];
      if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe2(): {}", std::strerror(errno)));
      readers.emplace_back(p[0]);
      writers.emplace_back(p[1]);
    }
  }
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto fail = [&](std::exception_ptr e) {
    {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = e;
    }
    request_stop(plan.stop_fd);
  };

  {
    std::vector<std::jthread> threads;
    // Declared after `threads`, so destroyed first: if starting a thread throws, the ones
    // already running are told to stop before they are joined.
    struct StopOnUnwind {
      int stop_fd;
      int exceptions = std::uncaught_exceptions();
      ~StopOnUnwind() {
        if (std::uncaught_exceptions() > exceptions) request_stop(stop_fd);
      }
    } stop_on_unwind{plan.stop_fd};
    for (std::size_t i = 0; i < count; ++i) {
      ServeContext ctx{.listen_fd = -1,
                       .stop_fd = plan.stop_fd,
                       .make_codec = plan.make_codec,
                       .counters = &plan.loops[i].counters,
                       .knobs = plan.knobs,
                       .handoff_fd = -1,
                       .started = &plan.loops[i].started,
                       .tcp = is_tcp_socket(plan.listen_fds.front())};
      if (plan.mode == AcceptMode::handoff)
        ctx.handoff_fd = readers[i].get();
      else
        ctx.listen_fd = plan.mode == AcceptMode::reuseport ? plan.listen_fds.at(i) : plan.listen_fds.front();
      const int cpu = plan.cpus.empty() ? -1 : plan.cpus[i % plan.cpus.size()];
      threads.emplace_back([&plan, &fail, ctx, cpu, record = &plan.loops[i]] {
        record->pid = static_cast<std::int32_t>(::getpid());
        record->tid = static_cast<std::int32_t>(::gettid());
        record->cpu = cpu;
        try {
          if (cpu >= 0) pin_thread(cpu);
          plan.backend->serve(ctx);
        } catch (...) {
          fail(std::current_exception());
        }
        record->cpu_ns = this_thread_cpu_ns();
        record->ended = true;
      });
    }
    if (plan.mode == AcceptMode::handoff) {
      threads.emplace_back([&plan, &fail, w = std::move(writers)]() mutable {
        try {
          HandoffAcceptor(plan, std::move(w)).run();
        } catch (...) {
          fail(std::current_exception());
        }
      });
    }
    if (plan.on_started && wait_until_started(plan.loops, plan.stop_fd)) plan.on_started();
  }  // joins every thread
  for (const UniqueFd& r : readers) close_unread(r.get());
  if (failure) std::rethrow_exception(failure);
}

}  // namespace mux
