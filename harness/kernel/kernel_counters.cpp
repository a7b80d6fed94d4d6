#include "harness/kernel/kernel_counters.hpp"

#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/errno_text.hpp"
#include "core/proc_files.hpp"
#include "harness/kernel/counter_table.hpp"

namespace mux {
namespace {

// Counting one thread costs one fd per event (~33): past this many threads alive at open time
// (neither `bench` nor `bench serve` has more than two then), the rest go uncounted, said so.
constexpr std::size_t kMaxTasks = 64;

#if defined(__x86_64__)
#define MUX_NR(name) SYS_##name
#else
#define MUX_NR(name) -1L  // the eBPF path, which needs the numbers, is x86-64 only
#endif
constexpr BreakdownSyscall kBreakdown[] = {
    {"read", MUX_NR(read)},           {"readv", MUX_NR(readv)},
    {"recvfrom", MUX_NR(recvfrom)},   {"recvmsg", MUX_NR(recvmsg)},
    {"recvmmsg", MUX_NR(recvmmsg)},   {"write", MUX_NR(write)},
    {"writev", MUX_NR(writev)},       {"sendto", MUX_NR(sendto)},
    {"sendmsg", MUX_NR(sendmsg)},     {"sendmmsg", MUX_NR(sendmmsg)},
    {"epoll_wait", MUX_NR(epoll_wait)}, {"epoll_pwait", MUX_NR(epoll_pwait)},
    {"epoll_pwait2", MUX_NR(epoll_pwait2)}, {"epoll_ctl", MUX_NR(epoll_ctl)},
    {"poll", MUX_NR(poll)},           {"ppoll", MUX_NR(ppoll)},
    {"select", MUX_NR(select)},       {"pselect6", MUX_NR(pselect6)},
    {"io_uring_enter", MUX_NR(io_uring_enter)}, {"accept", MUX_NR(accept)},
    {"accept4", MUX_NR(accept4)},     {"connect", MUX_NR(connect)},
    {"close", MUX_NR(close)},         {"shutdown", MUX_NR(shutdown)},
    {"futex", MUX_NR(futex)},         {"nanosleep", MUX_NR(nanosleep)},
    {"clock_nanosleep", MUX_NR(clock_nanosleep)}, {"clock_gettime", MUX_NR(clock_gettime)},
    {"sched_yield", MUX_NR(sched_yield)}, {"getrusage", MUX_NR(getrusage)}};
#undef MUX_NR

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Tracepoint ids live in tracefs, which is often not mounted: then (as root) it is mounted on
// a private temporary directory just long enough to read them, as perf itself does.
struct Tracepoints {
  std::optional<std::uint64_t> sys_enter;  // raw_syscalls:sys_enter
  std::vector<std::pair<std::string, std::uint64_t>> per_syscall;  // syscalls:sys_enter_NAME
  std::string error;  // why sys_enter is missing
};

std::optional<std::uint64_t> tracepoint_id(const std::string& root, const std::string& event) {
  const std::string text = read_first_line(fmt::format("{}/events/{}/id", root, event));
  if (text.empty()) return std::nullopt;
  return std::strtoull(text.c_str(), nullptr, 10);
}

Tracepoints read_tracepoints(const std::string& root) {
  Tracepoints t;
  t.sys_enter = tracepoint_id(root, "raw_syscalls/sys_enter");
  if (!t.sys_enter) t.error = fmt::format("this kernel has no raw_syscalls:sys_enter tracepoint in {}", root);
  for (const auto& [name, number] : kBreakdown)
    if (const auto id = tracepoint_id(root, fmt::format("syscalls/sys_enter_{}", name)))
      t.per_syscall.emplace_back(name, *id);
  return t;
}

Tracepoints find_tracepoints() {
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    struct stat st {};
    if (::stat(fmt::format("{}/events/raw_syscalls", root).c_str(), &st) == 0) return read_tracepoints(root);
  }
  char dir[] = "/tmp/muxbench-tracefs-XXXXXX";
  Tracepoints none;
  if (::mkdtemp(dir) == nullptr) {
    none.error = fmt::format("tracefs is not mounted and mkdtemp failed: {}", errno_text(errno));
    return none;
  }
  if (::mount("nodev", dir, "tracefs", 0, nullptr) != 0) {
    const int err = errno;
    ::rmdir(dir);
    none.error = fmt::format("tracefs (for the syscall tracepoints' ids) is not mounted and mounting it failed: {}; "
                             "mount it with `mount -t tracefs nodev /sys/kernel/tracing`",
                             errno_text(err));
    return none;
  }
  Tracepoints t = read_tracepoints(dir);
  ::umount2(dir, MNT_DETACH);
  ::rmdir(dir);
  return t;
}

const Tracepoints& tracepoints() {
  static const Tracepoints t = find_tracepoints();
  return t;
}

std::string refusal_reason(const std::string& counter, bool hardware, int err) {
  if (err == EACCES || err == EPERM)
    return fmt::format("perf_event_open refused: {}; kernel.perf_event_paranoid is {} and this process lacks "
                       "CAP_PERFMON, or a seccomp filter denies it; run as root, grant CAP_PERFMON or lower "
                       "kernel.perf_event_paranoid",
                       errno_text(err), read_first_line("/proc/sys/kernel/perf_event_paranoid"));
  if (hardware && (err == ENOENT || err == EOPNOTSUPP || err == ENODEV))
    return fmt::format("perf_event_open: {}: this machine exposes no hardware performance counters (a VM without "
                       "a virtual PMU?)",
                       errno_text(err));
  if (err == ENOSYS) return fmt::format("perf_event_open: {}: no perf events in this kernel", errno_text(err));
  return fmt::format("perf_event_open({}): {}", counter, errno_text(err));
}

std::vector<pid_t> threads_of_this_process() { return numeric_entries("/proc/self/task"); }

}  // namespace

std::span<const BreakdownSyscall> breakdown_syscalls() { return kBreakdown; }

void add_syscall_counts(const BpfSyscallCounter::Counts& counts, std::map<std::string, std::uint64_t>& into) {
  into["syscalls"] = BpfSyscallCounter::total_syscalls(counts);
  for (const auto& [name, number] : kBreakdown)
    if (number >= 0 && static_cast<std::size_t>(number) < counts.size())
      into[fmt::format("syscall:{}", name)] = counts[static_cast<std::size_t>(number)];
}

std::string SyscallCounterHandoff::to_argument() const { return nlohmann::json(*this).dump(); }

std::optional<SyscallCounterHandoff> SyscallCounterHandoff::parse(const std::string& argument) {
  const auto json = nlohmann::json::parse(argument, nullptr, false);
  SyscallCounterHandoff h;
  try {
    json.get_to(h);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (h.processes_fd < 0 || h.counts_fd < 0 || h.slot >= BpfSyscallCounter::kSlots) return std::nullopt;
  return h;
}

KernelSnapshot snapshot_from_json(const nlohmann::json& json) {
  return json.is_object() ? json.get<KernelSnapshot>() : KernelSnapshot{};
}

KernelCounters::KernelCounters(std::string reason) : off_reason_(std::move(reason)) {}

// This process's system calls counted in a slot of an eBPF counter: its own (shared with a
// server it starts) or its parent's, handed down; empty with `*why` set where refused.
BpfSlot open_ebpf(const std::optional<SyscallCounterHandoff>& handoff, std::string* why) {
  BpfSlot slot;
  if (handoff) {
    if (auto counter = BpfSyscallCounter::adopt(handoff->processes_fd, handoff->counts_fd, handoff->migrations, why))
      slot = BpfSlot(std::move(counter), handoff->slot, false);
  } else {
    slot = BpfSlot::acquire(why);
  }
  if (!slot || !slot.counter().count_process(::getpid(), slot.slot(), why) ||
      !slot.counter().sees_this_process(slot.slot(), why))
    return {};
  return slot;
}

void KernelCounters::add_coverage(const std::string& text) { coverage_ += (coverage_.empty() ? "" : "; ") + text; }

// One group of `software` and one of `hardware` events per thread, each inherited by what the
// thread creates; what the first thread refuses is unavailable, with the reason.
void KernelCounters::open_groups(const std::vector<pid_t>& tids, const std::vector<EventSpec>& software,
                                 const std::vector<EventSpec>& hardware) {
  for (const pid_t tid : tids) {
    const bool first = tid == tids.front();  // what the first thread refuses is unavailable
    for (const auto* specs : {&software, &hardware}) {
      Group group;
      for (const EventSpec& spec : *specs) {
        if (unavailable_.contains(spec.name)) continue;
        // Where raw_syscalls:sys_enter is refused, each syscall's tracepoint is refused alike.
        if (spec.name.starts_with("syscall:") && unavailable_.contains("syscalls")) continue;
        perf_event_attr attr{};
        attr.size = sizeof attr;
        attr.type = spec.type;
        attr.config = spec.config;
        attr.inherit = 1;  // threads and processes created later are counted into this event
        attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
        const int leader = group.fds.empty() ? -1 : group.fds.front().get();
        const int fd = static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, -1, leader, PERF_FLAG_FD_CLOEXEC));
        if (fd >= 0) {
          group.fds.emplace_back(fd);
          group.names.push_back(spec.name);
          continue;
        }
        const int err = errno;
        if (err == ESRCH) break;  // the thread ended meanwhile: nothing of it left to count
        if (first)
          unavailable_[spec.name] = refusal_reason(spec.name, spec.type == PERF_TYPE_HARDWARE, err);
        else
          add_coverage(fmt::format("{} is not counted on thread {}: {}", spec.name, tid, errno_text(err)));
      }
      if (!group.fds.empty()) groups_.push_back(std::move(group));
    }
  }
}

KernelCounters KernelCounters::open_for_process_tree(pid_t pid) {
  KernelCounters c;
  c.rusage_self_ = false;
  std::vector<EventSpec> software, hardware;
  const Tracepoints& tp = tracepoints();
  if (tp.sys_enter) {
    software.push_back({"syscalls", PERF_TYPE_TRACEPOINT, *tp.sys_enter});
    for (const auto& [name, id] : tp.per_syscall) software.push_back({"syscall:" + name, PERF_TYPE_TRACEPOINT, id});
  } else {
    c.unavailable_["syscalls"] = tp.error;
  }
  // getrusage cannot see another process: perf's software events count what it would.
  software.push_back({"cpu_migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS});
  software.push_back({"context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES});
  software.push_back({"page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS});
  software.push_back({"major_page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ});
  hardware.push_back({"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS});
  hardware.push_back({"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES});
  c.open_groups({pid}, software, hardware);
  for (const char* split : {"voluntary_context_switches", "involuntary_context_switches"})
    c.unavailable_[split] = "a --server-cmd server is counted from outside, by perf's context-switch event, which "
                            "does not tell voluntary from involuntary switches (getrusage does, for its own process only)";
  return c;
}

KernelCounters KernelCounters::open_for_this_process(const std::optional<SyscallCounterHandoff>& handoff) {
  KernelCounters c;
  c.syscalls_ = open_ebpf(handoff, &c.ebpf_refused_);
  // Two groups, each read with one read(2): the software group (the tracepoints and CPU
  // migrations: never multiplexed) and the hardware group, which may have to share the PMU.
  std::vector<EventSpec> software, hardware;
  const Tracepoints& tp = tracepoints();
  if (c.syscalls_) {
    // counted by eBPF: no tracepoint event
  } else if (tp.sys_enter) {
    software.push_back({"syscalls", PERF_TYPE_TRACEPOINT, *tp.sys_enter});
    for (const auto& [name, id] : tp.per_syscall) software.push_back({"syscall:" + name, PERF_TYPE_TRACEPOINT, id});
  } else {
    c.unavailable_["syscalls"] = tp.error;
  }
  // Counted by eBPF where it can: as an inherited perf event it costs every context switch.
  if (!c.syscalls_ || !c.syscalls_.counter().counts_migrations())
    software.push_back({"cpu_migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS});
  hardware.push_back({"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS});
  hardware.push_back({"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES});

  std::vector<pid_t> tids = threads_of_this_process();
  const std::set<pid_t> known(tids.begin(), tids.end());
  if (tids.size() > kMaxTasks) {
    c.coverage_ = fmt::format("{} of the {} threads alive when the counters were opened are not counted (at most {} "
                              "are, to bound the fds)",
                              tids.size() - kMaxTasks, tids.size(), kMaxTasks);
    tids.resize(kMaxTasks);
  }
  c.open_groups(tids, software, hardware);
  if (const auto it = c.unavailable_.find("syscalls"); it != c.unavailable_.end() && !c.ebpf_refused_.empty())
    it->second = fmt::format("eBPF: {}; perf_event: {}", c.ebpf_refused_, it->second);
  // A thread started by an uncounted thread while the counters were being opened escapes them.
  std::size_t late = 0;
  for (const pid_t tid : threads_of_this_process()) late += known.count(tid) == 0 ? 1 : 0;
  if (late > 0) c.add_coverage(fmt::format("{} threads started while the counters were being opened may not be counted", late));
  return c;
}

void mark_rusage_not_counted(KernelSnapshot& snapshot, const std::string& why) {
  for (const KernelCounterRow& counter : kernel_counter_table()) {
    if (!counter.getrusage) continue;
    snapshot.counts.erase(counter.name);
    snapshot.unavailable[counter.name] = why;
  }
}

bool KernelCounters::count_process(pid_t pid, std::string* why) {
  if (!off_reason_.empty()) {
    *why = off_reason_;
    return false;
  }
  if (!syscalls_) return true;  // perf_event: inherited by the child already
  if (!syscalls_.counter().count_process(pid, syscalls_.slot(), why)) {
    coverage_ += fmt::format("{}the system calls of process {} are not counted: {}", coverage_.empty() ? "" : "; ", pid, *why);
    return false;
  }
  if (processes_added_++ == 0)
    coverage_ += fmt::format("{}the system calls of the worker processes are counted, their context switches and page "
                             "faults are not (getrusage covers this process only)",
                             coverage_.empty() ? "" : "; ");
  return true;
}

void KernelCounters::forget_process(pid_t pid) {
  if (syscalls_) syscalls_.counter().forget_process(pid);
}

KernelSnapshot KernelCounters::snapshot() const {
  KernelSnapshot s;
  if (!off_reason_.empty()) {
    for (const KernelCounterRow& counter : kernel_counter_table()) s.unavailable[counter.name] = off_reason_;
    return s;
  }
  s.unavailable = unavailable_;
  s.coverage = coverage_;
  std::map<std::string, double> totals;
  std::set<std::string> scaled;
  for (const Group& g : groups_) {
    // PERF_FORMAT_GROUP: nr, time enabled, time running, then one value per event in order.
    std::vector<std::uint64_t> v(3 + g.names.size());
    const auto bytes = static_cast<ssize_t>(v.size() * sizeof v[0]);
    if (::read(g.fds.front().get(), v.data(), static_cast<std::size_t>(bytes)) != bytes) continue;
    const bool multiplexed = v[2] > 0 && v[2] < v[1];  // extrapolate, as perf stat does, and say so
    for (std::size_t i = 0; i < g.names.size(); ++i) {
      const double value = static_cast<double>(v[3 + i]);
      totals[g.names[i]] += multiplexed ? value * static_cast<double>(v[1]) / static_cast<double>(v[2]) : value;
      if (multiplexed) scaled.insert(g.names[i]);
    }
  }
  for (const auto& [name, total] : totals) s.counts[name] = static_cast<std::uint64_t>(total + 0.5);
  if (syscalls_) {
    const BpfSyscallCounter::Counts counts = syscalls_.counter().read(syscalls_.slot());
    add_syscall_counts(counts, s.counts);
    if (syscalls_.counter().counts_migrations()) s.counts["cpu_migrations"] = counts[BpfSyscallCounter::kMigrations];
    s.syscalls_counted_by = "ebpf";
    s.syscall_counting_method = syscalls_.counter().method();
    s.fentry_refused = syscalls_.counter().fentry_refused();
  } else if (s.counts.contains("syscalls")) {
    s.syscalls_counted_by = "perf_event";
    s.syscall_counting_method = "perf_event tracepoint events";
    s.ebpf_refused = ebpf_refused_;
  }
  s.scaled.assign(scaled.begin(), scaled.end());
  // getrusage(RUSAGE_SELF): every thread of the process, those that already exited included.
  rusage ru{};
  if (rusage_self_ && ::getrusage(RUSAGE_SELF, &ru) == 0) {
    const auto count = [](long v) { return static_cast<std::uint64_t>(std::max(v, 0L)); };
    s.counts["voluntary_context_switches"] = count(ru.ru_nvcsw);
    s.counts["involuntary_context_switches"] = count(ru.ru_nivcsw);
    s.counts["context_switches"] = count(ru.ru_nvcsw) + count(ru.ru_nivcsw);
    s.counts["page_faults"] = count(ru.ru_minflt) + count(ru.ru_majflt);
    s.counts["major_page_faults"] = count(ru.ru_majflt);
  }
  return s;
}

}  // namespace mux
