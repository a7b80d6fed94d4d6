#pragma once
// `bench serve --server-processes=P`: P worker processes forked from the one `bench` started
// (nginx's model), each running its share of the loops on the listeners it inherited. The
// first process stays behind to answer `bench` and to reap them.
#include <sys/types.h>

#include <mutex>
#include <string>
#include <vector>

#include "backends/multi_loop.hpp"
#include "harness/spec/server_shape.hpp"

namespace mux {

class WorkerProcesses {
 public:
  // Forks shape.processes workers. Worker p runs loops p*threads.. of `plan` (plan.loops holds
  // every loop); with --accept=reuseport it keeps the listeners of its loops and closes the rest.
  // Call it while this process has one thread: a fork copies only the calling thread.
  WorkerProcesses(const ServerShape& shape, const LoopsPlan& plan);
  // Stops every worker (the shared stop eventfd), waits for them, SIGKILLs what is left.
  ~WorkerProcesses();
  WorkerProcesses(const WorkerProcesses&) = delete;
  WorkerProcesses& operator=(const WorkerProcesses&) = delete;

  // Blocks until the server is asked to stop or a worker ends on its own (then it stops the
  // rest), and reaps every worker. Throws std::runtime_error naming a worker that failed.
  void wait();
  // User + system CPU of every worker so far, µs: live ones by their process CPU clock (ns,
  // every thread), reaped ones from RUSAGE_CHILDREN.
  double cpu_us();
  std::size_t count() const { return pids_.size(); }
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  void reap_all();

  int stop_fd_;
  std::mutex mutex_;  // the control thread reads CPU while wait() reaps
  std::vector<pid_t> pids_;
  std::vector<bool> reaped_;
  std::string failure_;
};

}  // namespace mux
