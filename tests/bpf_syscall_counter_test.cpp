// The eBPF syscall counter counts exactly the calls of the processes it is given, each into its
// own slot, every thread included; and KernelCounters adds a forked worker with count_process.
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "harness/kernel/bpf_syscall_counter.hpp"
#include "harness/kernel/kernel_btf.hpp"
#include "harness/kernel/kernel_counters.hpp"

namespace mux {
namespace {

// A child process that waits for a byte on a pipe, then runs `work` and exits: the parent can
// count it before it makes the calls to be counted.
class GatedChild {
 public:
  template <typename Work>
  explicit GatedChild(Work work) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      char byte;
      if (::read(fds[0], &byte, 1) == 1) work();
      ::_exit(0);
    }
    ::close(fds[0]);
    gate_ = fds[1];
  }
  pid_t pid() const { return pid_; }
  // Lets it run and waits for it to end; true if it exited normally.
  bool run_to_end() {
    const char go = 'g';
    const bool sent = ::write(gate_, &go, 1) == 1;
    ::close(gate_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return sent && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  pid_t pid_ = -1;
  int gate_ = -1;
};

constexpr int kCalls = 12'345;

void getppid_calls(int n) {
  for (int i = 0; i < n; ++i) ::syscall(SYS_getppid);
}

TEST(BpfSyscallCounter, CountsExactlyTheCallsOfAProcessAndItsThreadsInItsSlot) {
  std::string why;
  BpfSlot mine = BpfSlot::acquire(&why);
  if (!mine) GTEST_SKIP() << "eBPF refused here: " << why;
  BpfSlot child_slot = BpfSlot::acquire(&why);
  ASSERT_TRUE(child_slot) << why;
  ASSERT_EQ(&mine.counter(), &child_slot.counter()) << "one program serves every slot of a process";
  ASSERT_TRUE(mine.counter().count_process(::getpid(), mine.slot(), &why)) << why;

  GatedChild child([] {
    getppid_calls(kCalls);
    std::thread other([] { getppid_calls(kCalls); });  // a thread shares its process id: counted
    other.join();
  });
  ASSERT_TRUE(child_slot.counter().count_process(child.pid(), child_slot.slot(), &why)) << why;
  const auto child_before = child_slot.counter().read(child_slot.slot());
  const auto mine_before = mine.counter().read(mine.slot());
  ASSERT_TRUE(child.run_to_end());
  const auto child_after = child_slot.counter().read(child_slot.slot());
  const auto mine_after = mine.counter().read(mine.slot());
  EXPECT_EQ(child_after[SYS_getppid] - child_before[SYS_getppid], 2u * kCalls);
  EXPECT_EQ(mine_after[SYS_getppid] - mine_before[SYS_getppid], 0u) << "the child's calls went to its own slot";
  EXPECT_GE(mine_after[SYS_wait4] - mine_before[SYS_wait4], 1u) << "this process's own calls count in its slot";
}

// fentry needs the BTF id of the function every 64-bit system call goes through.
TEST(KernelBtf, FindsTheSyscallDispatchFunctionAndNamesAMissingOne) {
  std::string why;
  const auto id = kernel_function_btf_id(BpfSyscallCounter::kSyscallFunction, &why);
  if (!id && why.find("/sys/kernel/btf/vmlinux") != std::string::npos) GTEST_SKIP() << why;
  EXPECT_TRUE(id.has_value()) << why << " (a kernel older than 6.9 has no x64_sys_call)";
  if (id) {
    EXPECT_GT(*id, 0u);
  }
  why.clear();
  EXPECT_FALSE(kernel_function_btf_id("mux_no_such_function", &why).has_value());
  EXPECT_NE(why.find("mux_no_such_function"), std::string::npos) << why;
}

// Where fentry is refused the counter says why, and counts at the tracepoint.
TEST(BpfSyscallCounter, SaysWhereItsProgramRuns) {
  std::string why;
  BpfSlot slot = BpfSlot::acquire(&why);
  if (!slot) GTEST_SKIP() << "eBPF refused here: " << why;
  const BpfSyscallCounter& c = slot.counter();
  if (c.fentry_refused().empty()) {
    EXPECT_EQ(c.method(), "fentry x64_sys_call");
  } else {
    EXPECT_EQ(c.method(), "raw tracepoint sys_enter") << c.fentry_refused();
  }
}

TEST(BpfSyscallCounter, AnUncountedOrForgottenProcessIsNotCounted) {
  std::string why;
  BpfSlot slot = BpfSlot::acquire(&why);
  if (!slot) GTEST_SKIP() << "eBPF refused here: " << why;
  GatedChild uncounted([] { getppid_calls(kCalls); });
  GatedChild forgotten([] { getppid_calls(kCalls); });
  ASSERT_TRUE(slot.counter().count_process(forgotten.pid(), slot.slot(), &why)) << why;
  slot.counter().forget_process(forgotten.pid());
  const auto before = slot.counter().read(slot.slot());
  ASSERT_TRUE(uncounted.run_to_end());
  ASSERT_TRUE(forgotten.run_to_end());
  EXPECT_EQ(slot.counter().read(slot.slot())[SYS_getppid] - before[SYS_getppid], 0u);
}

// --counters=sampled detaches the program between slices: detached, a counted process's calls
// are not seen at all; attached again, they are, exactly.
TEST(BpfSyscallCounter, DetachedCountsNothingAndReattachedCountsAgain) {
  std::string why;
  BpfSlot slot = BpfSlot::acquire(&why);
  if (!slot) GTEST_SKIP() << "eBPF refused here: " << why;
  BpfSyscallCounter& counter = slot.counter();
  ASSERT_TRUE(counter.can_detach());
  ASSERT_TRUE(counter.count_process(::getpid(), slot.slot(), &why)) << why;
  ASSERT_TRUE(counter.attached());
  counter.detach();
  EXPECT_FALSE(counter.attached());
  const auto before = counter.read(slot.slot());
  getppid_calls(kCalls);
  const auto detached = counter.read(slot.slot());
  EXPECT_EQ(detached[SYS_getppid] - before[SYS_getppid], 0u) << "detached, the program does not run";
  ASSERT_TRUE(counter.reattach(&why)) << why;
  EXPECT_TRUE(counter.attached());
  getppid_calls(kCalls);
  EXPECT_EQ(counter.read(slot.slot())[SYS_getppid] - detached[SYS_getppid], static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(counter.method(), counter.fentry_refused().empty() ? "fentry x64_sys_call" : "raw tracepoint sys_enter")
      << "attached again where it was";
}

// A task of a counted process moved to another CPU counts as a migration, as the kernel's own
// count (se.nr_migrations) says: here a child pinned to one CPU and re-pinned to the other,
// back and forth, moves at each re-pinning.
TEST(BpfSyscallCounter, CountsMigrationsOfACountedProcess) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "one CPU: nothing to migrate to";
  std::string why;
  BpfSlot slot = BpfSlot::acquire(&why);
  if (!slot) GTEST_SKIP() << "eBPF refused here: " << why;
  if (!slot.counter().counts_migrations()) GTEST_SKIP() << "migrations not counted by eBPF: " << slot.counter().migrations_refused();
  constexpr int kMoves = 200;
  GatedChild child([] {
    const auto pin = [](int cpu) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(3);
    };
    for (int i = 0; i < kMoves; ++i) pin(i % 2);
  });
  ASSERT_TRUE(slot.counter().count_process(child.pid(), slot.slot(), &why)) << why;
  const auto before = slot.counter().read(slot.slot());
  ASSERT_TRUE(child.run_to_end());
  const auto moved = slot.counter().read(slot.slot())[BpfSyscallCounter::kMigrations] -
                     before[BpfSyscallCounter::kMigrations];
  // The first pinning may find it on that CPU already; each later one moves it.
  EXPECT_GE(moved, kMoves - 1u);
  EXPECT_LE(moved, kMoves + 2u) << "a moment unpinned before the first may add a move";
}

// A worker process forked by a counted process is added with count_process: its calls then
// count into the side's breakdown (sched_yield: a listed call this test process does not make).
TEST(KernelCountersCountProcess, AddsAForkedWorkersSystemCalls) {
  KernelCounters counters = KernelCounters::open_for_this_process();
  const KernelSnapshot before = counters.snapshot();
  if (before.syscalls_counted_by != "ebpf")
    GTEST_SKIP() << "system calls not counted by eBPF here (perf_event inherits children by itself): "
                 << before.ebpf_refused;
  GatedChild worker([] {
    for (int i = 0; i < kCalls; ++i) ::sched_yield();
  });
  std::string why;
  ASSERT_TRUE(counters.count_process(worker.pid(), &why)) << why;
  ASSERT_TRUE(worker.run_to_end());
  counters.forget_process(worker.pid());
  const KernelSnapshot after = counters.snapshot();
  EXPECT_EQ(after.counts.at("syscall:sched_yield") - before.counts.at("syscall:sched_yield"),
            static_cast<std::uint64_t>(kCalls));
  EXPECT_GE(after.counts.at("syscalls") - before.counts.at("syscalls"), static_cast<std::uint64_t>(kCalls));
  EXPECT_NE(after.coverage.find("context switches and page faults are not"), std::string::npos) << after.coverage;
}

}  // namespace
}  // namespace mux
