// without_io_uring PROGRAM ARGS...: runs PROGRAM with io_uring_setup(2) failing with EPERM,
// installed as a seccomp filter (inherited by its children). This is what a user sees with
// kernel.io_uring_disabled=2 or in a container whose profile blocks io_uring.
// Built again as without_bpf (DENIED_SYSCALL=__NR_bpf, EPERM: no CAP_BPF, or a container's
// profile) and as without_kernel_tracing (bpf and, as DENIED_SYSCALL2, perf_event_open fail
// with EACCES: perf_event_paranoid without CAP_PERFMON, or a container, does that).
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>

#ifndef DENIED_SYSCALL
#define DENIED_SYSCALL __NR_io_uring_setup
#define DENIED_ERRNO EPERM
#define PROGRAM_NAME "without_io_uring"
#endif
#ifndef DENIED_SYSCALL2
#define DENIED_SYSCALL2 DENIED_SYSCALL
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: " PROGRAM_NAME " PROGRAM [ARGS...]\n", stderr);
    return 2;
  }
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENIED_SYSCALL, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENIED_SYSCALL2, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (DENIED_ERRNO & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::perror(PROGRAM_NAME ": seccomp");
    return 1;
  }
  execv(argv[1], argv + 1);
  std::perror(PROGRAM_NAME ": exec");
  return 127;
}
