#pragma once
// The eBPF programs of the syscall counter (harness/kernel/bpf_syscall_counter.hpp), as instructions:
// the counting program (one run per system call) and the migration program.
#include <linux/bpf.h>

#include <cstdint>
#include <vector>

namespace mux {

// On sys_enter or at fentry of x64_sys_call: adds one to [cpu][slot][syscall number] of the
// counts array for a thread whose process id is in the processes map.
std::vector<bpf_insn> counting_program(int processes_fd, int counts_fd);
// On sched_migrate_task: adds one to [cpu][slot][kMigrations] for a counted task that changes
// CPU; the task's tgid and CPU are read at these offsets (from the kernel's BTF).
std::vector<bpf_insn> migration_program(int processes_fd, int counts_fd, std::uint32_t tgid_offset,
                                        std::uint32_t cpu_offset);

}  // namespace mux
