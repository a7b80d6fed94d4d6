#include "core/byte_buffer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mux {
namespace {

std::string drain(ByteBuffer& b, std::size_t step) {
  std::string out;
  while (!b.empty()) {
    const auto r = b.readable();
    const std::size_t n = std::min(step, r.size());
    out.append(r.data(), n);
    b.consume(n);  // a short write: only part of what was offered left
  }
  return out;
}

TEST(ByteBuffer, ShortWritesKeepTheRestInOrder) {
  ByteBuffer b;
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    const std::string chunk = std::to_string(i) + ",";
    b.append(chunk);
    expected += chunk;
    if (i % 7 == 0) {  // interleave partial consumption with appends
      const std::size_t n = std::min<std::size_t>(3, b.size());
      expected.erase(0, n);
      b.consume(n);
    }
  }
  EXPECT_EQ(drain(b, 1), expected);
  EXPECT_TRUE(b.empty());
}

TEST(ByteBuffer, ReserveAndCommit) {
  ByteBuffer b;
  auto room = b.reserve(10);
  ASSERT_GE(room.size(), 10u);
  std::memcpy(room.data(), "abcdefghij", 10);
  b.commit(10);
  b.consume(4);
  EXPECT_EQ(std::string(b.readable().data(), b.size()), "efghij");
}

TEST(ByteBuffer, SwapExchangesContents) {
  ByteBuffer a, b;
  a.append(std::string_view("one"));
  b.swap(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(std::string(b.readable().data(), b.size()), "one");
}

// An emptied buffer gives back storage beyond what it keeps (64 KiB by default), and keeps
// storage up to its own keep capacity; a swap moves contents, not keep capacities.
TEST(ByteBuffer, EmptiedBufferKeepsOnlyItsKeepCapacity) {
  const std::string burst(200 * 1024, 'x');
  ByteBuffer by_default;
  by_default.append(burst);
  by_default.clear();
  EXPECT_EQ(by_default.capacity(), 0u);

  ByteBuffer keeping(1024 * 1024);
  keeping.append(burst);
  const std::size_t grown = keeping.capacity();
  ASSERT_GE(grown, burst.size());
  keeping.clear();
  EXPECT_EQ(keeping.capacity(), grown) << "storage within the keep capacity is kept";
  keeping.append(std::string(2 * 1024 * 1024, 'y'));
  keeping.clear();
  EXPECT_EQ(keeping.capacity(), 0u) << "storage beyond the keep capacity is given back";

  ByteBuffer small_keep;
  ByteBuffer large_keep(1024 * 1024);
  small_keep.append(burst);
  small_keep.swap(large_keep);  // the 200 KiB now belong to large_keep, which keeps them
  large_keep.clear();
  EXPECT_GE(large_keep.capacity(), burst.size());
}

}  // namespace
}  // namespace mux
