// select(2). fd_set is a fixed 1024-bit array, and FD_SET on a larger fd is undefined (fortified
// glibc aborts). The kernel itself takes any nfds up to the fd limit, so, like libevent's
// select.c, keep the sets as heap bit arrays sized by the largest fd and do the bit operations
// here. What select costs at 10,000 fds is then measured, not avoided.
#include <sys/select.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "backends/readiness_loop.hpp"

namespace mux {
namespace {

class FdBits {
 public:
  using Word = __fd_mask;  // the kernel reads fd sets as arrays of longs
  static constexpr int kBits = 8 * sizeof(Word);

  void set(int fd) { grow(fd); words_[word(fd)] |= bit(fd); }
  void clear(int fd) {
    if (word(fd) < words_.size()) words_[word(fd)] &= ~bit(fd);
  }
  bool test(int fd) const { return word(fd) < words_.size() && (words_[word(fd)] & bit(fd)) != 0; }
  void copy_from(const FdBits& other, std::size_t words) {
    words_.resize(words);
    std::memcpy(words_.data(), other.words_.data(), words * sizeof(Word));
  }
  void grow(int fd) {
    if (word(fd) >= words_.size()) words_.resize(word(fd) + 1, 0);
  }
  fd_set* raw() { return reinterpret_cast<fd_set*>(words_.data()); }

 private:
  static std::size_t word(int fd) { return static_cast<std::size_t>(fd) / kBits; }
  static Word bit(int fd) { return static_cast<Word>(1UL << (static_cast<unsigned>(fd) % kBits)); }
  std::vector<Word> words_;
};

class SelectPoller final : public Poller {
 public:
  void set_interest(int fd, unsigned old_mask, unsigned new_mask) override {
    (void)old_mask;
    if (new_mask & kRead) read_.set(fd); else read_.clear(fd);
    if (new_mask & kWrite) write_.set(fd); else write_.clear(fd);
    if (new_mask != 0 && fd > max_fd_) max_fd_ = fd;
    // Both sets always span max_fd_, so the working copies below can be taken whole.
    if (max_fd_ >= 0) {
      read_.grow(max_fd_);
      write_.grow(max_fd_);
    }
    while (max_fd_ >= 0 && !read_.test(max_fd_) && !write_.test(max_fd_)) --max_fd_;
  }

  int wait(std::span<Event> out, int timeout_ms) override {
    const int nfds = max_fd_ + 1;
    const std::size_t words = static_cast<std::size_t>(nfds + FdBits::kBits - 1) / FdBits::kBits;
    ready_read_.copy_from(read_, words);
    ready_write_.copy_from(write_, words);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    const int n = ::select(nfds, ready_read_.raw(), ready_write_.raw(), nullptr, timeout_ms < 0 ? nullptr : &tv);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::runtime_error(fmt::format("select(): {}", std::strerror(errno)));
    }
    int count = 0;
    for (int fd = 0; fd < nfds && count < static_cast<int>(out.size()); ++fd) {
      unsigned mask = 0;
      if (ready_read_.test(fd)) mask |= kRead;
      if (ready_write_.test(fd)) mask |= kWrite;
      if (mask != 0) out[static_cast<std::size_t>(count++)] = {fd, mask};
    }
    return count;
  }

 private:
  FdBits read_, write_, ready_read_, ready_write_;
  int max_fd_ = -1;
};

}  // namespace

std::unique_ptr<Poller> make_select_poller() { return std::make_unique<SelectPoller>(); }

}  // namespace mux
