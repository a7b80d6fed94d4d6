#pragma once
// The one way bench starts a process: fork, then only async-signal-safe calls until exec (bench
// has threads: a fork copies only the calling one, and a lock another held stays locked); or,
// for `bench serve`'s worker processes, fork and run a function of this process instead.
// Every child joins this bench's process tree (harness/system/process_tree.hpp), so that it and
// whatever it forks end with bench, even when bench is killed with SIGKILL; it also gets
// PR_SET_PDEATHSIG=SIGKILL, which ends it (the direct child) at once.
#include <sched.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mux {

struct ChildSpec {
  std::string path;               // the program exec'd
  std::vector<std::string> argv;  // its argv, argv[0] included
  // {fd in this process, fd number in the child}: dup2'd in the child (0, 1, 2 included); the
  // other fds of this process close at exec (everything in bench is opened close-on-exec).
  std::vector<std::pair<int, int>> fds;
  std::optional<cpu_set_t> cpus;  // pinned to these before exec; none: this process's CPUs
  // Its own process group: the terminal's Ctrl-C then reaches bench only, which stops it in
  // order, and the group can be signalled as a whole. Otherwise it stays in bench's group.
  bool own_group = false;
  // A pipe's read end: the child execs only after reading 'g' from it (bench opens its counters
  // on the child first); anything else, or EOF, and it exits with 127 instead.
  int go_fd = -1;
  std::vector<int> close_in_child;  // fds the child must not hold while it waits on go_fd
  // Instead of exec (path and argv unused): the child, a copy of this process, runs this and
  // exits with what it returns (_exit: the objects it copied are this process's to destroy, not
  // its own). Only while this process has one thread, as `bench serve` forks its workers: a copy
  // of a threaded process may find a lock held by a thread it does not have.
  std::function<int()> run;
  // false: the child stays in the tree this process is in instead of one of this process's. For
  // `bench serve`'s workers: `bench serve` is bench's child, so in bench's tree (its cgroup, or
  // its process group), and a tree of its own would add a watchdog to the server's processes.
  bool join_tree = true;
};

// Starts it and returns its pid; throws std::system_error ("fork(): WHY") when fork() fails. An
// exec that fails shows as exit status 127.
pid_t spawn_child(const ChildSpec& spec);

}  // namespace mux
