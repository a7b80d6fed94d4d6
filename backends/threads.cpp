// Thread per connection, blocking I/O: the model the event loops are measured against. Each
// connection gets a thread with a 64 KiB stack (the default 8 MiB of address space per thread
// would run out long before 10,000 clients) running recv -> codec -> send until the peer leaves.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

#include <fmt/format.h>

#include "backends/backend.hpp"
#include "core/acceptor.hpp"
#include "core/byte_buffer.hpp"
#include "core/unique_fd.hpp"

namespace mux {
namespace {

constexpr std::size_t kThreadStack = 64 * 1024;

// Owns every connection thread: on destruction it shuts their sockets down, which ends each
// blocking recv, and waits until all of them have finished.
class ConnectionThreads {
 public:
  explicit ConnectionThreads(const ServeContext& ctx) : ctx_(ctx) {}
  ~ConnectionThreads() {
    std::unique_lock lock(mutex_);
    for (int fd : live_) ::shutdown(fd, SHUT_RDWR);
    all_done_.wait(lock, [this] { return running_ == 0; });
  }

  // Starts a thread serving `fd`; returns false (fd closed) when no thread could be made.
  bool start(int fd) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kThreadStack);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto* job = new Job{this, fd};
    {
      std::lock_guard lock(mutex_);
      live_.insert(fd);
      ++running_;
    }
    pthread_t tid;
    const int err = pthread_create(&tid, &attr, &ConnectionThreads::entry, job);
    pthread_attr_destroy(&attr);
    if (err == 0) return true;
    delete job;
    finish(fd);
    ::close(fd);
    if (!warned_) {
      warned_ = true;
      std::fputs(fmt::format("threads backend: cannot create a thread for a connection ({}); raise `ulimit -u`, "
                             "kernel.threads-max or vm.max_map_count, or use fewer --clients\n",
                             std::strerror(err)).c_str(), stderr);
    }
    return false;
  }

 private:
  struct Job {
    ConnectionThreads* owner;
    int fd;
  };

  static void* entry(void* arg) {
    auto* job = static_cast<Job*>(arg);
    ConnectionThreads* owner = job->owner;
    const int fd = job->fd;
    delete job;
    owner->serve_connection(fd);
    owner->finish(fd);
    ::close(fd);  // after finish(): the destructor must never shut down an fd number reused since
    return nullptr;
  }

  void serve_connection(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);  // accepted non-blocking; this model blocks
    auto codec = ctx_.make_codec();
    // ctx.read_size bytes on the heap (the stack is small on purpose), left uninitialised: a
    // page becomes resident only once a read reaches it, so the server's memory reflects the
    // data it received, not the read size times the connections.
    const std::size_t read_size = ctx_.read_size;
    const auto buf = std::make_unique_for_overwrite<char[]>(read_size);
    ByteBuffer out;
    for (;;) {
      const ssize_t n = ::recv(fd, buf.get(), read_size, 0);
      if (n == 0) break;  // peer closed; everything it sent has been answered already
      if (n < 0) {
        if (errno == EINTR) continue;
        ctx_.counters->resets++;
        break;
      }
      const bool ok = codec->on_bytes({buf.get(), static_cast<std::size_t>(n)}, out);
      if (!send_all(fd, out)) {
        ctx_.counters->resets++;
        break;
      }
      if (!ok) {
        if (codec->broke_protocol()) ctx_.counters->protocol_errors++;
        break;
      }
    }
    ctx_.counters->requests += codec->requests();
    ctx_.counters->closed++;
  }

  static bool send_all(int fd, ByteBuffer& out) {
    while (!out.empty()) {
      const auto bytes = out.readable();
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out.consume(static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    return true;
  }

  void finish(int fd) {
    std::lock_guard lock(mutex_);
    live_.erase(fd);
    if (--running_ == 0) all_done_.notify_all();
  }

  const ServeContext& ctx_;
  std::mutex mutex_;
  std::condition_variable all_done_;
  std::unordered_set<int> live_;
  std::size_t running_ = 0;
  bool warned_ = false;
};

class ThreadsBackend final : public Backend {
 public:
  void serve(const ServeContext& ctx) override {
    ConnectionThreads threads(ctx);
    Acceptor acceptor(ctx.listen_fd);
    pollfd fds[2] = {{ctx.listen_fd, POLLIN, 0}, {ctx.stop_fd, POLLIN, 0}};
    int timeout_ms = -1;
    if (ctx.started != nullptr) *ctx.started = true;
    for (;;) {
      const int n = ::poll(fds, 2, timeout_ms);
      timeout_ms = -1;
      if (n < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll(): {}", std::strerror(errno)));
      if (fds[1].revents != 0) return;  // ~ConnectionThreads ends and joins every connection
      for (;;) {
        const auto [outcome, fd] = acceptor.accept_one();
        if (outcome == Acceptor::Outcome::empty) break;
        if (outcome == Acceptor::Outcome::dropped) {
          ctx.counters->dropped_at_accept++;
          continue;
        }
        if (outcome == Acceptor::Outcome::failed) {  // no fds and no spare: wait, do not spin
          timeout_ms = 100;
          fds[0].events = 0;
          break;
        }
        ctx.counters->accepted++;
        if (!threads.start(fd)) ctx.counters->refused++;
      }
      if (timeout_ms < 0) fds[0].events = POLLIN;
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_threads_backend() { return std::make_unique<ThreadsBackend>(); }

}  // namespace mux
