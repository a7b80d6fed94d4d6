#pragma once
// What a ByteBuffer holds, as a string the protocol tests compare with what they expect.
#include <string>

#include "core/byte_buffer.hpp"

namespace mux {

inline std::string to_string(const ByteBuffer& b) { return {b.readable().data(), b.readable().size()}; }

}  // namespace mux
