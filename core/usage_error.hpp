#pragma once
#include <stdexcept>

namespace mux {

// A failure the user can fix: the message names the problem and the fix. Whoever catches it
// prints it as one line and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mux
