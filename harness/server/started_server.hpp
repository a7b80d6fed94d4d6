#pragma once
// What the two servers bench starts itself have in common (its own backend, ServerProcess; any
// command, CommandServer): the process it started, the address it listens on, how long any wait
// on it may last, why it stopped answering, and how it ended.
#include <sys/types.h>

#include <string>

#include "core/net.hpp"
#include "core/wait_status.hpp"
#include "harness/server/measured_server.hpp"

namespace mux {

class StartedServer : public MeasuredServer {
 public:
  StartedServer(const StartedServer&) = delete;
  StartedServer& operator=(const StartedServer&) = delete;

  const SocketAddress& address() const final { return address_; }
  std::string exit_description() const final { return exit_.description(); }
  // Set once a wait on it ran out (--timeout + grace: a stopped or frozen server, or a stop
  // signal cut the wait short): it is never waited on again.
  std::string unresponsive_reason() const final { return unresponsive_; }

 protected:
  explicit StartedServer(double wait_s) : wait_s_(wait_s) {}

  pid_t pid_ = -1;
  double wait_s_;  // the longest any wait on it lasts
  std::string unresponsive_;
  ChildExit exit_;
  SocketAddress address_;
};

}  // namespace mux
