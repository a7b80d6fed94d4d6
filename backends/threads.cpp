// Thread per connection, blocking I/O: the model the event loops are measured against. Each
// connection gets a thread with a 64 KiB stack (the default 8 MiB of address space per thread
// would run out long before 10,000 clients) running recv -> codec -> send until the peer leaves.
#include <fcntl.h>
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
#include "backends/connection_core.hpp"
#include "core/byte_buffer.hpp"

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

  // Starts a thread serving `fd`; returns false (fd closed) when no thread could be made. The
  // connection counts as accepted either way: the server took it, and then refused it.
  bool start(int fd) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kThreadStack);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto* job = new Job{this, fd, ConnectionCore(ctx_)};
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
    ConnectionCore connection;
  };

  static void* entry(void* arg) {
    auto* job = static_cast<Job*>(arg);
    ConnectionThreads* owner = job->owner;
    const int fd = job->fd;
    owner->serve_connection(fd, job->connection);
    delete job;
    owner->finish(fd);
    ::close(fd);  // after finish(): the destructor must never shut down an fd number reused since
    return nullptr;
  }

  // Blocking sends are this model's backpressure: no high-water mark, the thread waits.
  void serve_connection(int fd, ConnectionCore& c) {
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);  // accepted non-blocking; this model blocks
    // ctx.knobs.read_size bytes on the heap (the stack is small on purpose), left uninitialised: a
    // page becomes resident only once a read reaches it, so the server's memory reflects the
    // data it received, not the read size times the connections.
    const std::size_t read_size = ctx_.knobs.read_size;
    const auto buf = std::make_unique_for_overwrite<char[]>(read_size);
    for (;;) {
      const ssize_t n = ::recv(fd, buf.get(), read_size, 0);
      if (n == 0) break;  // peer closed; everything it sent has been answered already
      if (n < 0) {
        if (errno == EINTR) continue;
        c.mark_closed(Ending::reset);
        return;
      }
      const bool more = c.take_input({buf.get(), static_cast<std::size_t>(n)});
      if (!send_all(fd, c.out)) {
        c.mark_closed(Ending::reset);
        return;
      }
      if (!more) break;
    }
    c.mark_closed();
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
    ServerAcceptor acceptor(ctx.listen_fd, *ctx.counters);
    if (ctx.started != nullptr) *ctx.started = true;
    acceptor.accept_until_stopped(ctx.stop_fd, [&](int fd) {
      if (!threads.start(fd)) ctx.counters->refused++;
    });
  }  // ~ConnectionThreads ends and joins every connection
};

}  // namespace

std::unique_ptr<Backend> make_threads_backend() { return std::make_unique<ThreadsBackend>(); }

}  // namespace mux
