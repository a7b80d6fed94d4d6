#include "core/raw_protocol.hpp"

#include <algorithm>
#include <cstring>

namespace mux {

int RawClientCodec::request_iov(std::uint64_t seq, std::size_t pos, iovec out[2]) const {
  const std::size_t size = requests_.size(connection_, seq);
  if (pos >= size) return 0;
  // sendmsg only reads: the cast does not make the pattern writable.
  out[0] = {const_cast<char*>(requests_.payload(connection_, seq) + pos), size - pos};
  return 1;
}

ClientCodec::Progress RawClientCodec::on_reply(std::uint64_t seq, std::span<const char> bytes) {
  const std::size_t size = requests_.size(connection_, seq);
  const std::size_t take = std::min(size - received_, bytes.size());
  if (take > 0 && std::memcmp(requests_.payload(connection_, seq) + received_, bytes.data(), take) != 0)
    return {take, State::invalid};
  received_ += take;
  if (received_ < size) return {take, State::incomplete};
  received_ = 0;
  return {take, State::complete};
}

}  // namespace mux
