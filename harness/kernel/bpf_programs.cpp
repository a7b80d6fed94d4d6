#include "harness/kernel/bpf_programs.hpp"

#include "harness/kernel/bpf_syscall_counter.hpp"

namespace mux {
namespace {

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

}  // namespace

// On sys_enter(struct pt_regs *regs, long id) or at the entry of x64_sys_call(const struct
// pt_regs *regs, unsigned int nr): either way ctx is an array of u64 arguments, ctx + 8 the
// syscall number. R1-R5 are clobbered by calls, R6-R9 kept; R10 is the stack.
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
  p.push_back(jump_imm(BPF_JEQ, BPF_REG_0, 0, 19));             // no: to `r0 = 0; exit`
  p.push_back(load32(BPF_REG_8, BPF_REG_0, 0));                 // r8 = its slot
  p.push_back(load64(BPF_REG_7, BPF_REG_6, 8));                 // r7 = args[1], the syscall number
  p.push_back(insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_7, 0, 0));  // as u32 (fentry: unsigned int)
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

}  // namespace mux
