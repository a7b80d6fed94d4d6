// What counting costs one system call: getppid() timed with nothing attached, with the eBPF
// syscall counter (counting this process, or attached but counting others; at fentry of
// x64_sys_call, and at the raw tracepoint sys_enter it falls back to; detached again, as between
// --counters=sampled's slices) and with perf's
// tracepoint events as the fallback opens them. Robust on a noisy, shared VM: each condition's
// figure is its fastest 1,000-call chunk, the conditions alternate every 100 chunks, and the
// whole cycle repeats `rounds` times, so a burst of steal or another job hits every condition.
// Run pinned, e.g. `taskset -c 1 build/syscall_counting_cost 20`; needs root (or CAP_BPF and
// CAP_PERFMON) for the counted conditions, and tracefs for perf's tracepoint ids.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/unique_fd.hpp"
#include "harness/kernel/bpf_syscall_counter.hpp"

namespace {

using mux::BpfSlot;
using mux::UniqueFd;

std::optional<std::uint64_t> tracepoint_id(const std::string& event) {
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::ifstream in(std::string(root) + "/events/" + event + "/id");
    std::uint64_t id = 0;
    if (in >> id) return id;
  }
  return std::nullopt;
}

// A counting perf tracepoint event on this process, inherited, as KernelCounters opens them.
UniqueFd perf_tracepoint(const std::string& event) {
  const auto id = tracepoint_id(event);
  if (!id) return UniqueFd();
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = *id;
  attr.inherit = 1;
  return UniqueFd(static_cast<int>(::syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC)));
}

double ns_per_call(int calls) {
  const std::uint64_t start = mux::now_ns();
  for (int i = 0; i < calls; ++i) ::syscall(SYS_getppid);
  return static_cast<double>(mux::now_ns() - start) / calls;
}

struct Condition {
  const char* name;
  // Sets the condition up; what it returns is held while the calls are timed.
  struct Held {
    BpfSlot slot;
    std::vector<UniqueFd> events;
    bool ok = true;
  };
  Held (*set_up)();
};

Condition::Held nothing() { return {}; }
Condition::Held ebpf(mux::BpfSyscallCounter::Attach attach, bool count_this) {
  Condition::Held h;
  std::string why;
  h.slot = BpfSlot::acquire(&why, attach);
  h.ok = static_cast<bool>(h.slot) && (!count_this || h.slot.counter().count_process(::getpid(), h.slot.slot(), &why));
  if (h.ok && attach == mux::BpfSyscallCounter::Attach::fentry_else_tracepoint && !h.slot.counter().fentry_refused().empty()) {
    why = "fentry refused: " + h.slot.counter().fentry_refused();
    h.ok = false;
  }
  if (!h.ok) std::fprintf(stderr, "eBPF: %s\n", why.c_str());
  return h;
}
Condition::Held perf(std::initializer_list<const char*> events) {
  Condition::Held h;
  for (const char* e : events) {
    h.events.push_back(perf_tracepoint(e));
    h.ok = h.ok && static_cast<bool>(h.events.back());
  }
  return h;
}

constexpr auto kFentry = mux::BpfSyscallCounter::Attach::fentry_else_tracepoint;
constexpr auto kTracepoint = mux::BpfSyscallCounter::Attach::tracepoint;

const Condition kConditions[] = {
    {"nothing attached", nothing},
    {"eBPF fentry, this process counted", [] { return ebpf(kFentry, true); }},
    {"eBPF fentry, attached, not counting this", [] { return ebpf(kFentry, false); }},
    {"eBPF sys_enter, this process counted", [] { return ebpf(kTracepoint, true); }},
    {"eBPF sys_enter, attached, not counting", [] { return ebpf(kTracepoint, false); }},
    // --counters=sampled between slices: attached, then detached (the kernel clears every
    // task's syscall-tracepoint work flag when the last probe goes, so this should cost nothing).
    {"eBPF sys_enter, counted, then detached", [] {
       Condition::Held h = ebpf(kTracepoint, true);
       if (h.ok) h.slot.counter().detach();
       return h;
     }},
    {"perf raw_syscalls:sys_enter", [] { return perf({"raw_syscalls/sys_enter"}); }},
    {"perf raw + sys_enter_getppid", [] { return perf({"raw_syscalls/sys_enter", "syscalls/sys_enter_getppid"}); }},
    {"perf sys_enter_getpid (never fires)", [] { return perf({"syscalls/sys_enter_getpid"}); }},
};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
  if (rounds <= 0) {
    std::fputs("usage: syscall_counting_cost [ROUNDS > 0]\n", stderr);
    return 2;
  }
  constexpr std::size_t n = std::size(kConditions);
  std::vector<double> best(n, 1e18);
  std::vector<bool> ok(n, true);
  for (int r = 0; r < rounds; ++r)
    for (std::size_t c = 0; c < n; ++c) {
      const Condition::Held held = kConditions[c].set_up();
      ok[c] = ok[c] && held.ok;
      for (int chunk = 0; chunk < 100; ++chunk) best[c] = std::min(best[c], ns_per_call(1000));
    }
  std::printf("getppid(), fastest 1000-call chunk of %d x 100 per condition:\n", rounds);
  for (std::size_t c = 0; c < n; ++c)
    if (ok[c])
      std::printf("  %-42s %7.1f ns/call  %+7.1f\n", kConditions[c].name, best[c], best[c] - best[0]);
    else
      std::printf("  %-42s    n/a (refused here)\n", kConditions[c].name);
}
