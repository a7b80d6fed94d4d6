#include "harness/kernel/bpf_syscall_counter.hpp"

#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/errno_text.hpp"

#include "harness/kernel/bpf_programs.hpp"
#include "harness/kernel/kernel_btf.hpp"

namespace mux {
namespace {

int bpf(int cmd, bpf_attr& attr) { return static_cast<int>(::syscall(SYS_bpf, cmd, &attr, sizeof attr)); }

// CPU ids the kernel may ever use: /sys/devices/system/cpu/possible is "0-N" (or a list).
std::size_t possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string text;
  std::getline(in, text);
  const auto last = text.find_last_of("-,");
  const std::string tail = last == std::string::npos ? text : text.substr(last + 1);
  return tail.empty() ? 0 : static_cast<std::size_t>(std::stoul(tail)) + 1;
}

std::string refusal(const char* what, int err) {
  if (err == EPERM || err == EACCES)
    return fmt::format("{} refused: {}: loading eBPF tracing programs needs CAP_BPF and CAP_PERFMON (or "
                       "CAP_SYS_ADMIN) and no seccomp filter denying bpf(2)",
                       what, errno_text(err));
  if (err == ENOSYS) return fmt::format("{}: {}: this kernel has no bpf(2)", what, errno_text(err));
  return fmt::format("{}: {}", what, errno_text(err));
}

constexpr auto kNoAttachType = static_cast<bpf_attach_type>(0);  // what a raw tracepoint program gives

// Loads `program`; an empty fd with `*why` set where the kernel (or its verifier) refuses.
UniqueFd load_program(const std::vector<bpf_insn>& program, bpf_prog_type type, bpf_attach_type attach_type,
                      std::uint32_t attach_btf_id, const char* name, std::string* why) {
  std::vector<char> log(64 * 1024);
  bpf_attr attr{};
  attr.prog_type = type;
  attr.expected_attach_type = attach_type;
  attr.attach_btf_id = attach_btf_id;  // 0 with attach_btf_obj_fd 0: none; else a type of vmlinux
  attr.insns = reinterpret_cast<std::uintptr_t>(program.data());
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.license = reinterpret_cast<std::uintptr_t>("GPL");  // fentry and bpf_probe_read_kernel are GPL-only
  attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
  attr.log_size = static_cast<std::uint32_t>(log.size());
  attr.log_level = 1;
  std::strncpy(attr.prog_name, name, sizeof attr.prog_name - 1);
  UniqueFd fd(bpf(BPF_PROG_LOAD, attr));
  if (!fd) {
    const int err = errno;
    *why = err == EPERM && type == BPF_PROG_TYPE_TRACING
               // Refused before the verifier (its log is empty) though a raw tracepoint program,
               // which needs the same capabilities, may load: a security module denies the type.
               ? fmt::format("bpf(BPF_PROG_LOAD, {}): {}: this kernel refuses tracing (fentry) programs to this "
                             "process: a security policy denies BPF_PROG_TYPE_TRACING, or CAP_BPF/CAP_PERFMON is missing",
                             name, errno_text(err))
               : refusal(fmt::format("bpf(BPF_PROG_LOAD, {})", name).c_str(), err);
    if (log[0] != '\0') *why += fmt::format("; the verifier said: {}", log.data());  // EACCES may be the verifier's
  }
  return fd;
}

// Attaches a loaded program: to the raw tracepoint `tracepoint`, or (null) where its BTF id
// says (fentry). An empty fd with `*why` set where refused.
UniqueFd attach_program(const UniqueFd& program, const char* tracepoint, const char* what, std::string* why) {
  bpf_attr attr{};
  attr.raw_tracepoint.name = reinterpret_cast<std::uintptr_t>(tracepoint);
  attr.raw_tracepoint.prog_fd = static_cast<std::uint32_t>(program.get());
  UniqueFd link(bpf(BPF_RAW_TRACEPOINT_OPEN, attr));
  if (!link) *why = refusal(fmt::format("bpf(BPF_RAW_TRACEPOINT_OPEN, {})", what).c_str(), errno);
  return link;
}

}  // namespace

std::uint64_t BpfSyscallCounter::total_syscalls(const Counts& counts) {
  std::uint64_t total = 0;
  for (std::size_t n = 0; n < kMigrations; ++n) total += counts[n];
  return total;
}

BpfSyscallCounter::~BpfSyscallCounter() {
  attachment_.reset();  // detach first
  migration_attachment_.reset();
  if (mapped_) ::munmap(const_cast<std::uint64_t*>(mapped_), mapped_bytes_);
}

bool BpfSyscallCounter::map_counts(std::string* why) {
  cpus_ = possible_cpus();
  if (cpus_ == 0) {
    *why = "cannot read /sys/devices/system/cpu/possible";
    return false;
  }
  mapped_bytes_ = cpus_ * kSlots * kNumbers * sizeof(std::uint64_t);
  void* mapped = ::mmap(nullptr, mapped_bytes_, PROT_READ, MAP_SHARED, counts_.get(), 0);
  if (mapped == MAP_FAILED) {
    *why = fmt::format("mmap of the eBPF syscall counts: {}", errno_text(errno));
    return false;
  }
  mapped_ = static_cast<const std::uint64_t*>(mapped);
  return true;
}

std::shared_ptr<BpfSyscallCounter> BpfSyscallCounter::shared(std::string* why, Attach attach) {
#ifndef __x86_64__
  *why = "the eBPF syscall counter names system calls by their x86-64 numbers: not on this architecture";
  return nullptr;
#else
  static std::weak_ptr<BpfSyscallCounter> current;
  if (auto alive = current.lock()) return alive;
  std::shared_ptr<BpfSyscallCounter> c(new BpfSyscallCounter);
  const std::size_t cpus = possible_cpus();
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_HASH;
  attr.key_size = sizeof(std::uint32_t);
  attr.value_size = sizeof(std::uint32_t);
  attr.max_entries = kMaxProcesses;
  std::strncpy(attr.map_name, "mux_processes", sizeof attr.map_name - 1);
  c->processes_.reset(bpf(BPF_MAP_CREATE, attr));
  if (!c->processes_) {
    *why = refusal("bpf(BPF_MAP_CREATE)", errno);
    return nullptr;
  }
  attr = {};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = sizeof(std::uint32_t);
  attr.value_size = sizeof(std::uint64_t);
  attr.max_entries = static_cast<std::uint32_t>(std::max<std::size_t>(cpus, 1) * kSlots * kNumbers);
  attr.map_flags = BPF_F_MMAPABLE;  // read through memory: a snapshot makes no system call
  std::strncpy(attr.map_name, "mux_syscalls", sizeof attr.map_name - 1);
  c->counts_.reset(bpf(BPF_MAP_CREATE, attr));
  if (!c->counts_) {
    *why = refusal("bpf(BPF_MAP_CREATE, mmapable array)", errno);
    return nullptr;
  }
  if (!c->map_counts(why)) return nullptr;

  if (!c->attach_counting_program(attach, why)) return nullptr;
  c->attach_migration_program();
  current = c;
  return c;
#endif
}

bool BpfSyscallCounter::attach_counting_program(Attach attach, std::string* why) {
  const std::vector<bpf_insn> program = counting_program(processes_.get(), counts_.get());
  // fentry on the function every 64-bit system call goes through, where the kernel has one
  // (x86-64, 6.9+) and allows it: see the header for why it is cheaper than the tracepoint.
  if (attach == Attach::tracepoint) {
    fentry_refused_ = "not tried: the raw tracepoint was asked for";
  } else if (const auto id = kernel_function_btf_id(kSyscallFunction, &fentry_refused_)) {
    program_ = load_program(program, BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, *id, "mux_syscall", &fentry_refused_);
    if (program_) attachment_ = attach_program(program_, nullptr, "fentry x64_sys_call", &fentry_refused_);
    if (attachment_) {
      fentry_refused_.clear();
      method_ = fmt::format("fentry {}", kSyscallFunction);
      return true;
    }
  }
  program_ = load_program(program, BPF_PROG_TYPE_RAW_TRACEPOINT, kNoAttachType, 0, "mux_sys_enter", why);
  if (!program_) return false;
  attach_point_ = "sys_enter";
  attachment_ = attach_program(program_, attach_point_, attach_point_, why);
  method_ = "raw tracepoint sys_enter";
  return static_cast<bool>(attachment_);
}

bool BpfSyscallCounter::reattach(std::string* why) {
  if (attachment_) return true;
  if (!program_) {
    *why = "this process did not load the eBPF counting program (a counter handed down by bench)";
    return false;
  }
  attachment_ = attach_program(program_, attach_point_, method_.c_str(), why);
  return static_cast<bool>(attachment_);
}

void BpfSyscallCounter::attach_migration_program() {
  std::string why;
  const auto tgid = kernel_field_offset("task_struct", {"tgid"}, &why);
  const auto cpu = tgid ? kernel_field_offset("task_struct", {"thread_info", "cpu"}, &why) : std::nullopt;
  if (!tgid || !cpu) {
    migrations_refused_ = why;
    return;
  }
  const std::vector<bpf_insn> program = migration_program(processes_.get(), counts_.get(), *tgid, *cpu);
  migration_program_ = load_program(program, BPF_PROG_TYPE_RAW_TRACEPOINT, kNoAttachType, 0, "mux_migrate",
                                    &migrations_refused_);
  if (!migration_program_) return;
  migration_attachment_ = attach_program(migration_program_, "sched_migrate_task", "sched_migrate_task",
                                         &migrations_refused_);
  if (!migration_attachment_) return;
  migrations_refused_.clear();
}

std::shared_ptr<BpfSyscallCounter> BpfSyscallCounter::adopt(int processes_fd, int counts_fd, bool migrations,
                                                            std::string* why) {
  std::shared_ptr<BpfSyscallCounter> c(new BpfSyscallCounter);
  c->processes_.reset(processes_fd);
  c->counts_.reset(counts_fd);
  if (migrations) c->migrations_refused_.clear();
  if (!c->map_counts(why)) return nullptr;
  return c;
}

std::optional<std::uint32_t> BpfSyscallCounter::acquire_slot() {
  for (std::uint32_t slot = 0; slot < kSlots; ++slot)
    if (!taken_[slot]) {
      taken_[slot] = true;
      return slot;
    }
  return std::nullopt;
}

void BpfSyscallCounter::release_slot(std::uint32_t slot) {
  if (slot >= kSlots) return;
  taken_[slot] = false;
  // Forget every process counted into it: their ids may be reused by anything.
  std::vector<std::uint32_t> gone;
  std::uint32_t key = 0, next = 0, value = 0;
  bpf_attr attr{};
  attr.map_fd = static_cast<std::uint32_t>(processes_.get());
  attr.key = 0;  // null: the first key
  attr.next_key = reinterpret_cast<std::uintptr_t>(&next);
  while (bpf(BPF_MAP_GET_NEXT_KEY, attr) == 0) {
    key = next;
    bpf_attr lookup{};
    lookup.map_fd = attr.map_fd;
    lookup.key = reinterpret_cast<std::uintptr_t>(&key);
    lookup.value = reinterpret_cast<std::uintptr_t>(&value);
    if (bpf(BPF_MAP_LOOKUP_ELEM, lookup) == 0 && value == slot) gone.push_back(key);
    attr.key = reinterpret_cast<std::uintptr_t>(&key);
  }
  for (const std::uint32_t pid : gone) forget_process(static_cast<pid_t>(pid));
}

bool BpfSyscallCounter::count_process(pid_t pid, std::uint32_t slot, std::string* why) {
  const auto key = static_cast<std::uint32_t>(pid);
  bpf_attr attr{};
  attr.map_fd = static_cast<std::uint32_t>(processes_.get());
  attr.key = reinterpret_cast<std::uintptr_t>(&key);
  attr.value = reinterpret_cast<std::uintptr_t>(&slot);
  attr.flags = BPF_ANY;
  if (bpf(BPF_MAP_UPDATE_ELEM, attr) == 0) return true;
  const int err = errno;
  *why = err == E2BIG ? fmt::format("at most {} processes can be counted at once", kMaxProcesses)
                      : fmt::format("bpf(BPF_MAP_UPDATE_ELEM) for process {}: {}", pid, errno_text(err));
  return false;
}

void BpfSyscallCounter::forget_process(pid_t pid) {
  const auto key = static_cast<std::uint32_t>(pid);
  bpf_attr attr{};
  attr.map_fd = static_cast<std::uint32_t>(processes_.get());
  attr.key = reinterpret_cast<std::uintptr_t>(&key);
  bpf(BPF_MAP_DELETE_ELEM, attr);  // ENOENT: it was not counted; nothing else can fail
}

bool BpfSyscallCounter::sees_this_process(std::uint32_t slot, std::string* why) const {
  // The program keys on the tgid as the initial pid namespace numbers it.
  const Counts before = read(slot);
  for (int i = 0; i < 3; ++i) ::syscall(SYS_getppid);
  if (read(slot)[SYS_getppid] >= before[SYS_getppid] + 3) return true;
  *why = "the eBPF syscall counter did not see this process's own system calls (a pid namespace other than the "
         "initial one?)";
  return false;
}

BpfSyscallCounter::Counts BpfSyscallCounter::read(std::uint32_t slot) const {
  Counts sum{};
  if (slot >= kSlots) return sum;
  // The program adds (atomically) while this reads: an aligned 64-bit load sees a whole value.
  for (std::size_t cpu = 0; cpu < cpus_; ++cpu) {
    const std::uint64_t* row = mapped_ + (cpu * kSlots + slot) * kNumbers;
    for (std::size_t n = 0; n < kNumbers; ++n) sum[n] += __atomic_load_n(&row[n], __ATOMIC_RELAXED);
  }
  return sum;
}

}  // namespace mux
