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
  // What an emptied buffer keeps by default: enough for a typical burst, small enough that
  // thousands of idle connections stay small.
  static constexpr std::size_t kDefaultKeepCapacity = 64 * 1024;

  ByteBuffer() = default;
  // A buffer that keeps up to `keep_capacity` bytes of storage when it empties, for a user
  // whose bursts are larger and regular (io_uring's output): giving the storage back and
  // taking it again costs a page fault per 4 KiB, which on some VMs is tens of µs.
  explicit ByteBuffer(std::size_t keep_capacity) : keep_capacity_(keep_capacity) {}

  std::span<const char> readable() const { return {data_.data() + head_, tail_ - head_}; }
  std::size_t size() const { return tail_ - head_; }
  bool empty() const { return head_ == tail_; }
  std::size_t capacity() const { return data_.size(); }  // storage held, used or not

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
      if (data_.size() > keep_capacity_) std::vector<char>().swap(data_);
    }
  }
  void clear() { consume(size()); }
  // Swaps the contents; each buffer keeps its own keep_capacity.
  void swap(ByteBuffer& other) noexcept {
    data_.swap(other.data_);
    std::swap(head_, other.head_);
    std::swap(tail_, other.tail_);
  }

 private:
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
  std::size_t keep_capacity_ = kDefaultKeepCapacity;
};

}  // namespace mux
