#pragma once
// A growable byte queue: append at the tail, consume from the head. Used for a connection's
// pending output, so a short write keeps the rest for the next writable event.
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

namespace mux {

class ByteBuffer {
 public:
  std::span<const char> readable() const { return {data_.data() + head_, tail_ - head_}; }
  std::size_t size() const { return tail_ - head_; }
  bool empty() const { return head_ == tail_; }

  void append(std::span<const char> bytes) {
    std::memcpy(reserve(bytes.size()).data(), bytes.data(), bytes.size());
    tail_ += bytes.size();
  }

  // Room for at least n more bytes at the tail; fill it, then commit() what was written.
  std::span<char> reserve(std::size_t n) {
    if (data_.size() - tail_ < n) make_room(n);
    return {data_.data() + tail_, data_.size() - tail_};
  }
  void commit(std::size_t n) { tail_ += n; }

  void consume(std::size_t n) {
    head_ += n;
    if (head_ == tail_) {
      head_ = tail_ = 0;
      // Give back memory a burst took, so thousands of idle connections stay small.
      if (data_.size() > kKeepCapacity) std::vector<char>().swap(data_);
    }
  }
  void clear() { consume(size()); }
  void swap(ByteBuffer& other) noexcept {
    data_.swap(other.data_);
    std::swap(head_, other.head_);
    std::swap(tail_, other.tail_);
  }

 private:
  static constexpr std::size_t kKeepCapacity = 64 * 1024;

  void make_room(std::size_t n) {
    const std::size_t used = tail_ - head_;
    if (head_ > 0) {  // slide the live bytes to the front first
      std::memmove(data_.data(), data_.data() + head_, used);
      head_ = 0;
      tail_ = used;
    }
    if (data_.size() - tail_ < n) data_.resize(std::max(data_.size() * 2, used + n));
  }

  std::vector<char> data_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

}  // namespace mux
