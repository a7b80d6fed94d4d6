// The cost of one wait call with N watched fds, one of them ready: libevent's test/bench.c
// experiment (N socketpairs, A active) with A = 1, for select, poll, epoll and io_uring.
//
// Setup, out of the timed loop and alike for the four: N AF_UNIX socketpairs whose read ends
// are all watched; the last of them, pair N-1, has one byte pending that is never read, so it
// is always ready and every wait returns at once with exactly that fd. An iteration is one
// wait call plus what the caller must do to find the ready fd in what it returns: select's
// and poll's scan of all N entries, and select's copy of its fd sets (it overwrites them).
//
// The ready fd is the last one on purpose. Every call blocks (no timeout), as a server's does,
// and a blocking select or poll hooks itself onto the wait queue of every fd it checks until
// it finds a ready one; with the ready fd last that is N-1 of them, close to the real case
// where nothing is ready yet and the call must arm all N before it sleeps. (With the ready fd
// first, select and poll would only check the others, never arm them, and look cheaper than
// they are in a server.) epoll and io_uring do not depend on the position.
//
// Each (mechanism, N) is set up once and kept while Google Benchmark calls the function again
// with more iterations; switching to another one tears the previous down (fds included) first.
#include "tests/micro/wait_benchmarks.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "core/proc_files.hpp"
#include "tests/micro/watched_fds.hpp"

namespace mux::micro {
namespace {

// One mechanism's registrations of n watched fds, the last of them ready.
struct WaitSetup {
  explicit WaitSetup(int n) : fds(n) {}
  virtual ~WaitSetup() = default;
  WatchedFds fds;
};

std::unique_ptr<WaitSetup> g_setup;

template <class Setup>
Setup& setup_for(int n) {
  if (auto* current = dynamic_cast<Setup*>(g_setup.get()); current != nullptr && current->fds.count() == n)
    return *current;
  g_setup.reset();  // the previous mechanism's registrations and fds go first
  auto fresh = std::make_unique<Setup>(n);
  pollfd check{fresh->fds.ready_fd(), POLLIN, 0};
  if (::poll(&check, 1, 0) != 1 || (check.revents & POLLIN) == 0)
    throw std::runtime_error("the ready socketpair is not readable");
  Setup& setup = *fresh;
  g_setup = std::move(fresh);
  return setup;
}

template <class Setup>
Setup* prepare(benchmark::State& state) {
  try {
    return &setup_for<Setup>(static_cast<int>(state.range(0)));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
}

void finish(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());  // waits per second
  state.counters["fds"] = static_cast<double>(state.range(0));
}

void wrong_result(benchmark::State& state, int returned, int found) {
  state.SkipWithError(
      fmt::format("the wait returned {} (ready fd found: {}), not exactly the one ready fd", returned, found).c_str());
}

// ---------------------------------------------------------------------------------- select

// Heap bit arrays as in backends/select.cpp: FD_SET beyond FD_SETSIZE (1024) is undefined,
// but the kernel takes any nfds and reads the sets as arrays of longs.
using FdWord = __fd_mask;
constexpr int kWordBits = 8 * sizeof(FdWord);
FdWord fd_bit(int fd) { return static_cast<FdWord>(1UL << (static_cast<unsigned>(fd) % kWordBits)); }
std::size_t fd_word(int fd) { return static_cast<std::size_t>(fd) / kWordBits; }

struct SelectSetup final : WaitSetup {
  explicit SelectSetup(int n) : WaitSetup(n) {
    nfds = fds.ready_fd() + 1;  // the highest watched fd
    watched.assign(static_cast<std::size_t>(nfds + kWordBits - 1) / kWordBits, 0);
    for (int i = 0; i < n; ++i) watched[fd_word(fds.read_fd(i))] |= fd_bit(fds.read_fd(i));
    result.resize(watched.size());
  }
  int nfds = 0;
  std::vector<FdWord> watched;  // what the caller keeps
  std::vector<FdWord> result;   // the copy select() overwrites
};

void BM_WaitSelect(benchmark::State& state) {
  SelectSetup* s = prepare<SelectSetup>(state);
  if (s == nullptr) return;
  const int expected = s->fds.ready_fd();
  const std::size_t bytes = s->watched.size() * sizeof(FdWord);
  for (auto _ : state) {
    std::memcpy(s->result.data(), s->watched.data(), bytes);
    const int n = ::select(s->nfds, reinterpret_cast<fd_set*>(s->result.data()), nullptr, nullptr, nullptr);
    int found = -1;
    int count = 0;
    for (int fd = 0; fd < s->nfds; ++fd) {  // as the backend scans: every fd below nfds
      if ((s->result[fd_word(fd)] & fd_bit(fd)) != 0) {
        found = fd;
        ++count;
      }
    }
    if (n != 1 || count != 1 || found != expected) {
      wrong_result(state, n, found);
      break;
    }
  }
  finish(state);
}

// ------------------------------------------------------------------------------------ poll

struct PollSetup final : WaitSetup {
  explicit PollSetup(int n) : WaitSetup(n) {
    for (int i = 0; i < n; ++i) entries.push_back({fds.read_fd(i), POLLIN, 0});
  }
  std::vector<pollfd> entries;
};

void BM_WaitPoll(benchmark::State& state) {
  PollSetup* s = prepare<PollSetup>(state);
  if (s == nullptr) return;
  const int expected = s->fds.ready_fd();
  for (auto _ : state) {
    const int n = ::poll(s->entries.data(), s->entries.size(), -1);
    int found = -1;
    int count = 0;
    for (const pollfd& p : s->entries) {
      if (p.revents != 0) {
        found = p.fd;
        ++count;
      }
    }
    if (n != 1 || count != 1 || found != expected) {
      wrong_result(state, n, found);
      break;
    }
  }
  finish(state);
}

// ----------------------------------------------------------------------------------- epoll

struct EpollSetup final : WaitSetup {
  explicit EpollSetup(int n) : WaitSetup(n), epfd(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd < 0) throw std::runtime_error(errno_text("epoll_create1"));
    for (int i = 0; i < n; ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;  // level-triggered: the pending byte is reported by every call
      ev.data.fd = fds.read_fd(i);
      if (::epoll_ctl(epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) != 0) {
        const std::string error = errno_text("epoll_ctl");
        ::close(epfd);
        throw std::runtime_error(error);
      }
    }
  }
  ~EpollSetup() override { ::close(epfd); }
  EpollSetup(const EpollSetup&) = delete;
  EpollSetup& operator=(const EpollSetup&) = delete;
  int epfd;
};

void BM_WaitEpoll(benchmark::State& state) {
  EpollSetup* s = prepare<EpollSetup>(state);
  if (s == nullptr) return;
  const int expected = s->fds.ready_fd();
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  for (auto _ : state) {
    const int n = ::epoll_wait(s->epfd, events, kMaxEvents, -1);
    int found = -1;
    for (int i = 0; i < n; ++i) found = events[i].data.fd;
    if (n != 1 || found != expected) {
      wrong_result(state, n, found);
      break;
    }
  }
  finish(state);
}

// -------------------------------------------------------------------------------- io_uring

// The fair equivalent of "one wait, N fds registered, one ready". io_uring has no level-
// triggered persistent poll: a multishot IORING_OP_POLL_ADD posts a completion only when the
// fd's wait queue is woken (edge-like), so on an fd that stays readable it fires once and then
// never again; IORING_POLL_ADD_LEVEL is refused (-EINVAL) together with IORING_POLL_ADD_MULTI
// (both checked on this kernel). Writing and reading a byte per iteration to re-trigger it
// would add two syscalls the other mechanisms do not pay. So:
//  - the N-1 idle read ends get a multishot poll each, armed once (they never fire);
//  - the ready fd gets a one-shot poll, re-armed in every iteration inside the same
//    io_uring_enter that waits: io_uring_submit_and_wait(1), then the one CQE is reaped.
// That is exactly what a readiness loop on io_uring does after it has handled an event (re-arm
// and wait in one syscall), and the kernel work matches epoll's: one vfs_poll of the ready fd,
// one event copied out, nothing proportional to the N-1 idle registrations. The ring is set up
// as backends/io_uring.cpp sets up its own (DEFER_TASKRUN where the kernel has it).
struct IoUringSetup final : WaitSetup {
  static constexpr unsigned kEntries = 4096;
  static constexpr std::uint64_t kReadyTag = ~std::uint64_t{0};

  explicit IoUringSetup(int n) : WaitSetup(n) {
    const unsigned modes[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0};
    int ret = -EINVAL;
    for (unsigned mode : modes) {
      io_uring_params params{};
      params.flags = mode;
      if ((ret = io_uring_queue_init_params(kEntries, &ring, &params)) == 0) break;
    }
    if (ret != 0) throw std::runtime_error(errno_text("io_uring_queue_init", -ret));
    try {
      for (int i = 0; i < n - 1; ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (sqe == nullptr) {  // the SQ is full: hand this batch to the kernel
          if ((ret = io_uring_submit(&ring)) < 0) throw std::runtime_error(errno_text("io_uring_submit", -ret));
          sqe = io_uring_get_sqe(&ring);
        }
        io_uring_prep_poll_multishot(sqe, fds.read_fd(i), POLLIN);
        io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(i));
      }
      if ((ret = io_uring_submit(&ring)) < 0) throw std::runtime_error(errno_text("io_uring_submit", -ret));
      io_uring_cqe* cqe = nullptr;
      if (io_uring_peek_cqe(&ring, &cqe) == 0) {  // an idle fd fired, or its poll was refused
        throw std::runtime_error(fmt::format("multishot poll of idle fd #{} completed at once: res {}",
                                             cqe->user_data, cqe->res));
      }
    } catch (...) {
      io_uring_queue_exit(&ring);
      throw;
    }
  }
  ~IoUringSetup() override { io_uring_queue_exit(&ring); }  // cancels the idle polls
  IoUringSetup(const IoUringSetup&) = delete;
  IoUringSetup& operator=(const IoUringSetup&) = delete;

  io_uring ring{};
};

void BM_WaitIoUring(benchmark::State& state) {
  IoUringSetup* s = prepare<IoUringSetup>(state);
  if (s == nullptr) return;
  const int expected = s->fds.ready_fd();
  for (auto _ : state) {
    io_uring_sqe* sqe = io_uring_get_sqe(&s->ring);  // never null: at most one is in flight
    io_uring_prep_poll_add(sqe, expected, POLLIN);
    io_uring_sqe_set_data64(sqe, IoUringSetup::kReadyTag);
    const int n = io_uring_submit_and_wait(&s->ring, 1);
    io_uring_cqe* cqe = nullptr;
    if (n != 1 || io_uring_peek_cqe(&s->ring, &cqe) != 0 || cqe->user_data != IoUringSetup::kReadyTag ||
        (cqe->res & POLLIN) == 0) {
      wrong_result(state, n, cqe != nullptr && cqe->user_data == IoUringSetup::kReadyTag ? expected : -1);
      break;
    }
    io_uring_cqe_seen(&s->ring, cqe);
  }
  finish(state);
}

void watched_fd_counts(benchmark::internal::Benchmark* b) {
  for (int n = 1; n <= kMaxWatchedFds; n *= 10) b->Arg(n);
}

BENCHMARK(BM_WaitSelect)->Apply(watched_fd_counts);
BENCHMARK(BM_WaitPoll)->Apply(watched_fd_counts);
BENCHMARK(BM_WaitEpoll)->Apply(watched_fd_counts);
BENCHMARK(BM_WaitIoUring)->Apply(watched_fd_counts);

}  // namespace

void raise_fd_limit() {
  // 10,000 watched fds need about 10,600 (see WatchedFds). Raise the soft RLIMIT_NOFILE to the
  // hard limit and, if that is still short, the hard limit too, up to fs.nr_open: allowed
  // with CAP_SYS_RESOURCE only. Otherwise the benchmarks that do not fit are skipped with a
  // message naming the limit.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  const std::uint64_t needed = static_cast<std::uint64_t>(highest_open_fd() + kMaxWatchedFds + 2 * WatchedFds::kBatch + kSpareFds);
  if (static_cast<std::uint64_t>(rl.rlim_max) >= needed) return;
  const std::uint64_t ceiling = read_nr_open();
  rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(ceiling != 0 && ceiling < needed ? ceiling : needed);
  ::setrlimit(RLIMIT_NOFILE, &rl);  // EPERM without CAP_SYS_RESOURCE: the old limits stay
}

void release_wait_state() {
  g_setup.reset();
}

}  // namespace mux::micro
