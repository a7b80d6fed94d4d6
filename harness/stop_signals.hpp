#pragma once
// What stops a run early.
//
// SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session) all stop a run the same way:
// the partial results are kept, marked incomplete. A handler only records the signal and wakes
// whoever waits: measure() watches the flag; a wait elsewhere can poll stop_signal_fd() beside
// what it waits for, so a signal delivered to any thread (a load thread, often) ends it.
#include <string>

namespace mux {

// Installs the handlers (no SA_RESTART, so sleeps end early) and ignores SIGPIPE.
void install_stop_signals();
int stop_signal();  // the signal received, 0 if none
// Readable once a stop signal has arrived (it stays readable); -1 before install_stop_signals().
int stop_signal_fd();
// "interrupted by signal 2 (Interrupt)": the incomplete reason of a stopped run.
std::string interrupted_by(int sig);

}  // namespace mux
