#pragma once
// System calls counted by one eBPF program, for the load generator and the server alike, run
// at fentry of x64_sys_call (the function every 64-bit system call goes through since 6.9)
// where the kernel allows tracing programs, else on the raw tracepoint sys_enter (method(),
// fentry_refused() say which and why). fentry is a trampoline patched into that one function:
// no other process pays more than a few ns, and no system call takes the slow path. A
// tracepoint probe, by contrast, makes every task of the machine enter and leave each system
// call through syscall_trace_enter, and running a BPF program from it costs ~120-160 ns a call
// on this VM even when the program is empty (measured with variants of it: the program's own
// work, the lookup included, is within the noise of 30 ns). This VM refuses every
// BPF_PROG_TYPE_TRACING load with EPERM before the verifier (raw tracepoint programs load), so
// here it counts at the tracepoint and counting costs ~7-12% of a syscall-bound run's
// throughput; fentry is untried here.
//
// One program run per system call gives the total and the per-syscall breakdown, where perf's tracepoint events cost one event each (two per call:
// raw_syscalls:sys_enter and syscalls:sys_enter_NAME) plus perf's work at every context switch
// of a counted thread. On this VM a perf tracepoint event costs ~150-225 ns per call and the
// program ~150 ns per call for all of it (tests/micro/syscall_counting_cost.cpp measures both).
//
// The program looks the calling thread's process id (tgid) up in a hash map of the counted
// processes, tgid -> slot, and on a hit adds one to [cpu][slot][syscall number] of an array
// this process reads through mmap: a snapshot costs no system call. A slot is one side (`bench`
// is slot 0; each server it starts gets its own and, inheriting the maps' fds, adds its own
// process and any worker process it forks). Every thread of a counted process counts (threads
// share the tgid), io_uring's io-wq workers and SQPOLL thread included: they make no system
// calls of their own (the operations they run are not system calls; the io_uring_enter that
// submitted them is). Processes a counted process forks are NOT counted until added with
// count_process(): unlike perf's inherited events, the map follows process ids, not fork.
//
// Migrations: an inherited perf software event would make every context switch of a counted
// thread switch perf contexts (+190-460 ns per switch measured here); this program runs only
// when the scheduler moves a task, and counts it where the task's CPU changes.
//
// At the tracepoint the program runs on every system call of every process while attached
// (~150 ns each here for the others too, the lookup that misses): `bench` keeps it attached only while a counter
// or a counted server is alive, and one program serves both sides.
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/unique_fd.hpp"

namespace mux {

class BpfSyscallCounter {
 public:
  // A row of counts: syscall numbers below kOtherSyscalls one by one (x86-64 has ~460), any
  // other at kOtherSyscalls; CPU migrations at kMigrations.
  static constexpr std::size_t kNumbers = 512;
  static constexpr std::size_t kOtherSyscalls = kNumbers - 2;
  static constexpr std::size_t kMigrations = kNumbers - 1;
  static constexpr std::uint32_t kSlots = 4;           // sides counted at once
  static constexpr std::size_t kMaxProcesses = 1024;  // processes counted at once, all slots
  using Counts = std::array<std::uint64_t, kNumbers>;  // one row, all CPUs summed

  // This process's counter: loaded and attached by the first caller, detached when the last
  // holder lets go. Null with `*why` where the kernel refuses (no CAP_BPF/CAP_SYS_ADMIN,
  // seccomp, no BPF) or the program, once attached, misses this process's own system calls.
  // `attach`: where the first caller attaches it (the tracepoint only to measure what fentry
  // saves, tests/micro/syscall_counting_cost.cpp); a later caller gets the one attached.
  enum class Attach { fentry_else_tracepoint, tracepoint };
  static std::shared_ptr<BpfSyscallCounter> shared(std::string* why, Attach attach = Attach::fentry_else_tracepoint);
  // The maps of a parent's counter, inherited as fds (the parent's program does the counting).
  // `migrations`: the parent's counter counts them (counts_migrations()).
  static std::shared_ptr<BpfSyscallCounter> adopt(int processes_fd, int counts_fd, bool migrations, std::string* why);
  BpfSyscallCounter(const BpfSyscallCounter&) = delete;
  BpfSyscallCounter& operator=(const BpfSyscallCounter&) = delete;
  ~BpfSyscallCounter();

  int processes_fd() const { return processes_.get(); }
  int counts_fd() const { return counts_.get(); }
  // A free slot (none: every one taken), and back: its processes are no longer counted.
  std::optional<std::uint32_t> acquire_slot();
  void release_slot(std::uint32_t slot);

  // Counts process `pid` (all its threads) into `slot` from now on; false with `*why` set when
  // the map is full or bpf(2) fails.
  bool count_process(pid_t pid, std::uint32_t slot, std::string* why);
  // Stops counting `pid`: once a counted child is reaped, before its id can be reused.
  void forget_process(pid_t pid);
  // Checks that calls of this process, counted in `slot`, are seen; false with `*why` if not
  // (another pid namespace sees other ids).
  bool sees_this_process(std::uint32_t slot, std::string* why) const;
  Counts read(std::uint32_t slot) const;
  static std::uint64_t total_syscalls(const Counts& counts);
  // CPU migrations are counted too (a second program, on the raw tracepoint sched_migrate_task,
  // reading the task's tgid and CPU at offsets from the kernel's BTF): else why not.
  bool counts_migrations() const { return migrations_refused_.empty(); }
  const std::string& migrations_refused() const { return migrations_refused_; }
  // Where the program counts: fentry on kSyscallFunction, else the raw tracepoint sys_enter,
  // with why fentry was refused (empty: it was not). A counter adopted from a parent does not
  // know (empty).
  static constexpr const char* kSyscallFunction = "x64_sys_call";
  const std::string& method() const { return method_; }
  const std::string& fentry_refused() const { return fentry_refused_; }

  // --counters=sampled detaches the counting program between slices. Closing its link removes
  // the probe; with the last probe of the syscall tracepoints gone the kernel clears every
  // task's SYSCALL_WORK_SYSCALL_TRACEPOINT (syscall_unregfunc, kernel/tracepoint.c), so no
  // task takes the slow path; attaching again sets it on every task (syscall_regfunc). Another
  // tracer on sys_enter/sys_exit keeps the flag set: then only this program's run is saved.
  // Only the counter that loaded the program can (an adopted one has none); the migration
  // program stays attached (it runs per migration, not per system call).
  bool can_detach() const { return static_cast<bool>(program_); }
  bool attached() const { return static_cast<bool>(attachment_); }
  void detach() { attachment_.reset(); }
  // Attaches the loaded program again where it was; false with `*why` if the kernel refuses.
  bool reattach(std::string* why);

 private:
  BpfSyscallCounter() = default;
  bool map_counts(std::string* why);
  bool attach_counting_program(Attach attach, std::string* why);
  void attach_migration_program();

  UniqueFd processes_;  // hash map: tgid -> slot
  UniqueFd counts_;     // array of u64: [(cpu * kSlots + slot) * kNumbers + syscall number]
  UniqueFd program_;
  UniqueFd attachment_;  // the raw tracepoint link: closing it detaches the program
  const char* attach_point_ = nullptr;  // reattach(): the raw tracepoint's name, null for fentry
  UniqueFd migration_program_, migration_attachment_;
  std::string migrations_refused_ = "not counted by an inherited eBPF counter";
  std::string method_, fentry_refused_;
  const std::uint64_t* mapped_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::size_t cpus_ = 0;
  std::array<bool, kSlots> taken_{};
};

}  // namespace mux

namespace mux {

// One slot of a BpfSyscallCounter, held for one side; given back (its processes forgotten) when
// an owned slot is destroyed. A slot handed down by a parent is the parent's to give back.
class BpfSlot {
 public:
  BpfSlot() = default;
  BpfSlot(std::shared_ptr<BpfSyscallCounter> counter, std::uint32_t slot, bool owned)
      : counter_(std::move(counter)), slot_(slot), owned_(owned) {}
  BpfSlot(BpfSlot&& other) noexcept { *this = std::move(other); }
  BpfSlot& operator=(BpfSlot&& other) noexcept {
    if (this == &other) return *this;
    give_back();
    counter_ = std::move(other.counter_);
    slot_ = other.slot_;
    owned_ = other.owned_;
    return *this;
  }
  ~BpfSlot() { give_back(); }
  // A free slot of this process's shared counter; empty with `*why` if none or eBPF is refused.
  static BpfSlot acquire(std::string* why,
                         BpfSyscallCounter::Attach attach = BpfSyscallCounter::Attach::fentry_else_tracepoint) {
    auto counter = BpfSyscallCounter::shared(why, attach);
    if (!counter) return {};
    const auto slot = counter->acquire_slot();
    if (!slot) {
      *why = "every slot of the eBPF syscall counter is taken";
      return {};
    }
    return BpfSlot(std::move(counter), *slot, true);
  }

  explicit operator bool() const { return counter_ != nullptr; }
  BpfSyscallCounter& counter() const { return *counter_; }
  std::uint32_t slot() const { return slot_; }

 private:
  void give_back() {
    if (counter_ && owned_) counter_->release_slot(slot_);
    counter_.reset();
  }
  std::shared_ptr<BpfSyscallCounter> counter_;
  std::uint32_t slot_ = 0;
  bool owned_ = false;
};

}  // namespace mux
