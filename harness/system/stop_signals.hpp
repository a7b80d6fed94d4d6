#pragma once
// What stops a run early, and how long bench waits on a server that does not answer.
//
// SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session) all stop a run the same way:
// the partial results are kept, marked incomplete. A handler only records the signal and wakes
// whoever waits: measure() watches the flag; a wait on the server polls stop_signal_fd()
// beside what it waits for, so a signal delivered to any thread (a load thread, often) ends it.
//
// A server that is stopped (SIGSTOP, a debugger) or frozen answers nothing: every wait on it
// (its start handshake, a control request, its final counters, its exit) is bounded by
// server_wait_s(--timeout), after which it is killed and the run marked incomplete; a stop
// signal shortens whatever wait remains to kSignalledServerWaitS.
#include <cstdint>
#include <string>

namespace mux {

// Installs the handlers (no SA_RESTART, so sleeps end early) and ignores SIGPIPE.
void install_stop_signals();
int stop_signal();  // the signal received, 0 if none
// Readable once a stop signal has arrived (it stays readable); -1 before install_stop_signals().
int stop_signal_fd();
// "interrupted by signal 2 (Interrupt)": the incomplete reason of a stopped run.
std::string interrupted_by(int sig);

// Beyond --timeout (how long a request may stay unanswered), what a server gets to answer
// bench: a start-up or a stop under a sanitizer on a busy machine takes a second or two. A
// thread-per-client server ends each connection's thread before it reports: 10,000 threads
// took 13.3 s under AddressSanitizer here, so such a run needs a longer --timeout (the scale
// test gives 60 s).
inline constexpr double kServerGraceS = 5.0;
// The longest bench waits on the server at any one point: --timeout + kServerGraceS.
double server_wait_s(double timeout_s);
// After a stop signal, a wait on the server lasts at most this much longer: a healthy server
// still hands over its final counters in time (milliseconds; more on a loaded machine), a frozen
// one holds up nothing.
inline constexpr double kSignalledServerWaitS = 1.0;

// One wait on the server: its deadline, brought forward to kSignalledServerWaitS from the
// moment a stop signal is seen.
class ServerDeadline {
 public:
  explicit ServerDeadline(double wait_s);
  // Has it passed? Checks for a stop signal first.
  bool passed();
  // Milliseconds left, rounded up (for poll(2)); 0 once it has passed.
  int remaining_ms();
  // Did a stop signal shorten it?
  bool signalled() const { return signalled_; }
  // Seconds since the wait began.
  double waited_s() const;

 private:
  void check_signal();

  std::uint64_t start_ns_;
  std::uint64_t deadline_ns_;
  bool signalled_ = false;
};

enum class WaitEnd { ready, timed_out };
// Waits until `fd` is readable (or at its end of file or an error), or the deadline passes.
// A stop signal wakes it at once, and it then waits what is left of the shortened deadline.
WaitEnd wait_readable(int fd, ServerDeadline& deadline);

// Why a wait on the server ended without an answer, for the incomplete reason: "the server did
// not <what> within --timeout + 5 s (5.5 s): stopped or frozen?", or the signal that cut it short.
std::string no_answer_reason(const std::string& what, const ServerDeadline& deadline);

}  // namespace mux
