#include "harness/bpf_syscall_counter.hpp"

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

#include "harness/kernel_btf.hpp"

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

// The few eBPF instructions the program needs (linux/bpf.h's encoding; libbpf's macros of the
// same names are not installed).
bpf_insn insn(int code, int dst, int src, int off, int imm) {
  bpf_insn i{};
  i.code = static_cast<std::uint8_t>(code);
  i.dst_reg = static_cast<std::uint8_t>(dst) & 0xf;
  i.src_reg = static_cast<std::uint8_t>(src) & 0xf;
  i.off = static_cast<std::int16_t>(off);
  i.imm = imm;
  return i;
}
bpf_insn mov_reg(int dst, int src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn mov_imm(int dst, int imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn alu_imm(int op, int dst, int imm) { return insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm); }
bpf_insn add_reg(int dst, int src) { return insn(BPF_ALU64 | BPF_ADD | BPF_X, dst, src, 0, 0); }
bpf_insn store32(int base, int off, int src) { return insn(BPF_STX | BPF_W | BPF_MEM, base, src, off, 0); }
bpf_insn load32(int dst, int base, int off) { return insn(BPF_LDX | BPF_W | BPF_MEM, dst, base, off, 0); }
bpf_insn load64(int dst, int base, int off) { return insn(BPF_LDX | BPF_DW | BPF_MEM, dst, base, off, 0); }
bpf_insn atomic_add64(int base, int off, int src) { return insn(BPF_STX | BPF_DW | BPF_ATOMIC, base, src, off, BPF_ADD); }
bpf_insn jump_imm(int op, int dst, int imm, int skip) { return insn(BPF_JMP | op | BPF_K, dst, 0, skip, imm); }
bpf_insn call(int helper) { return insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
// A 64-bit load of a map's address from its fd: two instruction slots.
void load_map(std::vector<bpf_insn>& p, int dst, int map_fd) {
  p.push_back(insn(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, map_fd));
  p.push_back(insn(0, 0, 0, 0, 0));
}

// On sys_enter(struct pt_regs *regs, long id): ctx is struct bpf_raw_tracepoint_args, args[1]
// (ctx + 8) the syscall number. R1-R5 are clobbered by calls, R6-R9 kept; R10 is the stack.
std::vector<bpf_insn> counting_program(int processes_fd, int counts_fd) {
  constexpr int kNumberBits = 9;  // kNumbers == 1 << 9
  static_assert(BpfSyscallCounter::kNumbers == 1u << kNumberBits);
  constexpr int kSlots = static_cast<int>(BpfSyscallCounter::kSlots);
  std::vector<bpf_insn> p;
  p.push_back(mov_reg(BPF_REG_6, BPF_REG_1));                   // r6 = ctx
  p.push_back(call(BPF_FUNC_get_current_pid_tgid));             // r0 = tgid << 32 | tid
  p.push_back(alu_imm(BPF_RSH, BPF_REG_0, 32));                 // r0 = tgid
  p.push_back(store32(BPF_REG_10, -4, BPF_REG_0));              // key = tgid, on the stack
  load_map(p, BPF_REG_1, processes_fd);                         // (2 slots)
  p.push_back(mov_reg(BPF_REG_2, BPF_REG_10));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_2, -4));
  p.push_back(call(BPF_FUNC_map_lookup_elem));                  // counted process?
  p.push_back(jump_imm(BPF_JEQ, BPF_REG_0, 0, 18));             // no: to `r0 = 0; exit`
  p.push_back(load32(BPF_REG_8, BPF_REG_0, 0));                 // r8 = its slot
  p.push_back(load64(BPF_REG_7, BPF_REG_6, 8));                 // r7 = args[1], the syscall number
  p.push_back(jump_imm(BPF_JLT, BPF_REG_7, BpfSyscallCounter::kOtherSyscalls, 1));
  p.push_back(mov_imm(BPF_REG_7, BpfSyscallCounter::kOtherSyscalls));  // out of range: "other"
  p.push_back(call(BPF_FUNC_get_smp_processor_id));             // r0 = cpu
  p.push_back(alu_imm(BPF_MUL, BPF_REG_0, kSlots));
  p.push_back(add_reg(BPF_REG_0, BPF_REG_8));                   // r0 = cpu * kSlots + slot
  p.push_back(alu_imm(BPF_LSH, BPF_REG_0, kNumberBits));
  p.push_back(add_reg(BPF_REG_0, BPF_REG_7));                   // ... * kNumbers + number
  p.push_back(store32(BPF_REG_10, -8, BPF_REG_0));
  load_map(p, BPF_REG_1, counts_fd);                            // (2 slots)
  p.push_back(mov_reg(BPF_REG_2, BPF_REG_10));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_2, -8));
  p.push_back(call(BPF_FUNC_map_lookup_elem));                  // null past the end (bad slot)
  p.push_back(jump_imm(BPF_JEQ, BPF_REG_0, 0, 2));              // to `r0 = 0`
  p.push_back(mov_imm(BPF_REG_1, 1));
  // Atomic although each CPU has its own row: the program may be preempted on kernels that run
  // syscall tracepoints preemptible; uncontended, the locked add costs a few ns.
  p.push_back(atomic_add64(BPF_REG_0, 0, BPF_REG_1));
  p.push_back(mov_imm(BPF_REG_0, 0));
  p.push_back(exit_insn());
  return p;
}

// On sched_migrate_task(struct task_struct *p, int dest_cpu), ctx args[0] and args[1]: the
// task's tgid and current CPU are read at their BTF offsets; a counted process's task that
// changes CPU adds one to [cpu][slot][kMigrations] (the kernel fires this even when it stays).
std::vector<bpf_insn> migration_program(int processes_fd, int counts_fd, std::uint32_t tgid_offset,
                                        std::uint32_t cpu_offset) {
  constexpr int kNumberBits = 9;
  constexpr int kSlots = static_cast<int>(BpfSyscallCounter::kSlots);
  std::vector<bpf_insn> p;
  p.push_back(load64(BPF_REG_7, BPF_REG_1, 0));                 // r7 = p
  p.push_back(load64(BPF_REG_8, BPF_REG_1, 8));                 // r8 = dest_cpu
  p.push_back(mov_reg(BPF_REG_1, BPF_REG_10));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_1, -4));                 // stack -4: the tgid (u32)
  p.push_back(mov_imm(BPF_REG_2, 4));
  p.push_back(mov_reg(BPF_REG_3, BPF_REG_7));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_3, static_cast<int>(tgid_offset)));
  p.push_back(call(BPF_FUNC_probe_read_kernel));
  p.push_back(jump_imm(BPF_JNE, BPF_REG_0, 0, 31));             // unreadable: to `r0 = 0`
  p.push_back(mov_reg(BPF_REG_1, BPF_REG_10));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_1, -8));                 // stack -8: the task's CPU (u32)
  p.push_back(mov_imm(BPF_REG_2, 4));
  p.push_back(mov_reg(BPF_REG_3, BPF_REG_7));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_3, static_cast<int>(cpu_offset)));
  p.push_back(call(BPF_FUNC_probe_read_kernel));
  p.push_back(jump_imm(BPF_JNE, BPF_REG_0, 0, 24));
  p.push_back(load32(BPF_REG_1, BPF_REG_10, -8));
  p.push_back(insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_8, BPF_REG_8, 0, 0));  // dest_cpu as u32
  p.push_back(insn(BPF_JMP | BPF_JEQ | BPF_X, BPF_REG_1, BPF_REG_8, 21, 0));  // stays: to `r0 = 0`
  load_map(p, BPF_REG_1, processes_fd);                         // (2 slots)
  p.push_back(mov_reg(BPF_REG_2, BPF_REG_10));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_2, -4));
  p.push_back(call(BPF_FUNC_map_lookup_elem));                  // a counted process?
  p.push_back(jump_imm(BPF_JEQ, BPF_REG_0, 0, 15));
  p.push_back(load32(BPF_REG_8, BPF_REG_0, 0));                 // r8 = its slot
  p.push_back(call(BPF_FUNC_get_smp_processor_id));
  p.push_back(alu_imm(BPF_MUL, BPF_REG_0, kSlots));
  p.push_back(add_reg(BPF_REG_0, BPF_REG_8));
  p.push_back(alu_imm(BPF_LSH, BPF_REG_0, kNumberBits));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_0, static_cast<int>(BpfSyscallCounter::kMigrations)));
  p.push_back(store32(BPF_REG_10, -12, BPF_REG_0));
  load_map(p, BPF_REG_1, counts_fd);                            // (2 slots)
  p.push_back(mov_reg(BPF_REG_2, BPF_REG_10));
  p.push_back(alu_imm(BPF_ADD, BPF_REG_2, -12));
  p.push_back(call(BPF_FUNC_map_lookup_elem));
  p.push_back(jump_imm(BPF_JEQ, BPF_REG_0, 0, 2));
  p.push_back(mov_imm(BPF_REG_1, 1));
  p.push_back(atomic_add64(BPF_REG_0, 0, BPF_REG_1));
  p.push_back(mov_imm(BPF_REG_0, 0));
  p.push_back(exit_insn());
  return p;
}

std::string refusal(const char* what, int err) {
  if (err == EPERM || err == EACCES)
    return fmt::format("{} refused: {}: loading eBPF tracing programs needs CAP_BPF and CAP_PERFMON (or "
                       "CAP_SYS_ADMIN) and no seccomp filter denying bpf(2)",
                       what, errno_text(err));
  if (err == ENOSYS) return fmt::format("{}: {}: this kernel has no bpf(2)", what, errno_text(err));
  return fmt::format("{}: {}", what, errno_text(err));
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

std::shared_ptr<BpfSyscallCounter> BpfSyscallCounter::shared(std::string* why) {
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

  const std::vector<bpf_insn> program = counting_program(c->processes_.get(), c->counts_.get());
  std::vector<char> log(64 * 1024);
  attr = {};
  attr.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
  attr.insns = reinterpret_cast<std::uintptr_t>(program.data());
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.license = reinterpret_cast<std::uintptr_t>("GPL");
  attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
  attr.log_size = static_cast<std::uint32_t>(log.size());
  attr.log_level = 1;
  std::strncpy(attr.prog_name, "mux_sys_enter", sizeof attr.prog_name - 1);
  c->program_.reset(bpf(BPF_PROG_LOAD, attr));
  if (!c->program_) {
    *why = refusal("bpf(BPF_PROG_LOAD)", errno);
    if (log[0] != '\0') *why += fmt::format("; the verifier said: {}", log.data());  // EACCES may be the verifier's
    return nullptr;
  }
  attr = {};
  attr.raw_tracepoint.name = reinterpret_cast<std::uintptr_t>("sys_enter");
  attr.raw_tracepoint.prog_fd = static_cast<std::uint32_t>(c->program_.get());
  c->attachment_.reset(bpf(BPF_RAW_TRACEPOINT_OPEN, attr));
  if (!c->attachment_) {
    *why = refusal("bpf(BPF_RAW_TRACEPOINT_OPEN, sys_enter)", errno);
    return nullptr;
  }
  c->attach_migration_program();
  current = c;
  return c;
#endif
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
  std::vector<char> log(64 * 1024);
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
  attr.insns = reinterpret_cast<std::uintptr_t>(program.data());
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.license = reinterpret_cast<std::uintptr_t>("GPL");  // bpf_probe_read_kernel is GPL-only
  attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
  attr.log_size = static_cast<std::uint32_t>(log.size());
  attr.log_level = 1;
  std::strncpy(attr.prog_name, "mux_migrate", sizeof attr.prog_name - 1);
  migration_program_.reset(bpf(BPF_PROG_LOAD, attr));
  if (!migration_program_) {
    migrations_refused_ = refusal("bpf(BPF_PROG_LOAD, migrations)", errno);
    if (log[0] != '\0') migrations_refused_ += fmt::format("; the verifier said: {}", log.data());
    return;
  }
  attr = {};
  attr.raw_tracepoint.name = reinterpret_cast<std::uintptr_t>("sched_migrate_task");
  attr.raw_tracepoint.prog_fd = static_cast<std::uint32_t>(migration_program_.get());
  migration_attachment_.reset(bpf(BPF_RAW_TRACEPOINT_OPEN, attr));
  if (!migration_attachment_) {
    migrations_refused_ = refusal("bpf(BPF_RAW_TRACEPOINT_OPEN, sched_migrate_task)", errno);
    return;
  }
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
