#include "harness/system/process_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "core/proc_files.hpp"

namespace mux {
namespace {

// Everything below down to watch() runs in the watchdog too: a process forked from bench,
// which may have threads by then, so only async-signal-safe calls (no allocation, no stdio).

// What bench tells the watchdog, one record per message (SOCK_SEQPACKET keeps them whole).
struct Record {
  std::int32_t pid = 0;    // 0: bench ends normally, the watchdog exits without acting
  std::int32_t group = 0;  // 1: end its process group (pid is the leader)
  std::uint64_t start = 0; // process_start_time(pid) when recorded
};

// SIGKILL reaches a process at once, but one in uninterruptible sleep (a disk write) ends only
// when that returns; past this the cleanup leaves the cgroup to the kernel and goes on.
constexpr long kEmptyWaitMs = 10'000;

void sleep_ms(long ms) {
  timespec t{ms / 1000, (ms % 1000) * 1'000'000};
  while (::nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

// Reads file `name` in directory `dir` into buf (NUL-terminated); its length, -1 on failure.
ssize_t read_at(int dir, const char* name, char* buf, std::size_t size) {
  const int fd = ::openat(dir, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t used = 0;
  for (ssize_t n; used + 1 < size && (n = ::read(fd, buf + used, size - 1 - used)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf[used] = '\0';
  return static_cast<ssize_t>(used);
}

bool write_at(int dir, const char* name, const char* text) {
  const int fd = ::openat(dir, name, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text));
  ::close(fd);
  return ok;
}

// Calls f(name) for each subdirectory of `dir` (getdents64: opendir allocates).
template <typename F>
void for_each_subdir(int dir, F&& f) {
  const int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buf[4096];
  for (long n; (n = ::syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0;) {
    for (long at = 0; at < n;) {
      const auto* e = reinterpret_cast<const dirent64*>(buf + at);  // the kernel's linux_dirent64
      at += e->d_reclen;
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) f(e->d_name);
    }
  }
  ::close(fd);
}

// "populated 1" in cgroup.events: a live process in it or below (zombies no longer count).
bool populated(int cgroup) {
  char buf[512];
  if (read_at(cgroup, "cgroup.events", buf, sizeof buf) < 0) return false;  // gone
  return std::strstr(buf, "populated 1") != nullptr;
}

// Before cgroup.kill (5.14): SIGKILL to each member listed in cgroup.procs, here and below.
void kill_members(int cgroup) {
  char buf[8192];
  if (read_at(cgroup, "cgroup.procs", buf, sizeof buf) > 0) {
    long pid = 0;
    for (const char* p = buf; *p; ++p) {
      if (*p >= '0' && *p <= '9') {
        pid = pid * 10 + (*p - '0');
      } else {
        if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
        pid = 0;
      }
    }
    if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
  }
  for_each_subdir(cgroup, [cgroup](const char* name) {
    const int sub = ::openat(cgroup, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub < 0) return;
    kill_members(sub);
    ::close(sub);
  });
}

// Removes cgroup `name` in `parent` and the cgroups under it (a nested bench's), deepest first:
// rmdir of a cgroup with children fails.
void remove_cgroup(int parent, const char* name) {
  const int dir = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  for_each_subdir(dir, [dir](const char* sub) { remove_cgroup(dir, sub); });
  ::close(dir);
  ::unlinkat(parent, name, AT_REMOVEDIR);
}

// Ends every process of the cgroup and below, waits until none is left, removes it.
void end_cgroup(int parent, const char* name) {
  const int cgroup = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) return;
  const bool has_kill = write_at(cgroup, "cgroup.kill", "1");  // 5.14+: all at once, forks included
  for (long waited = 0; populated(cgroup) && waited < kEmptyWaitMs; waited += 5) {
    if (!has_kill) kill_members(cgroup);  // again: one may have forked between read and kill
    sleep_ms(5);
  }
  ::close(cgroup);
  remove_cgroup(parent, name);
}

bool same_process(const Record& r) { return r.start != 0 && process_start_time(r.pid) == r.start; }

// The watchdog's table of recorded children; a full table drops those that have ended.
constexpr std::size_t kMaxRecords = 4096;
Record g_records[kMaxRecords];
std::size_t g_record_count = 0;

void remember(const Record& r) {
  if (g_record_count == kMaxRecords) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < g_record_count; ++i)
      if (same_process(g_records[i])) g_records[kept++] = g_records[i];
    g_record_count = kept;
  }
  if (g_record_count < kMaxRecords) g_records[g_record_count++] = r;
}

void close_other_fds(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  rlimit limit{};
  const rlim_t last = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? limit.rlim_cur : 65536;
  for (rlim_t fd = static_cast<rlim_t>(first); fd < last; ++fd) ::close(static_cast<int>(fd));
}

// The watchdog: waits on the socket; at EOF without the "normal end" record (bench died, e.g.
// by SIGKILL), ends the cgroup and the recorded children that are still the same processes.
[[noreturn]] void watch(int socket, int parent_dir, const char* cgroup_name, int devnull) {
  // Fds 0-2 to /dev/null: a shell reading bench's output through a pipe sees its end when bench
  // ends, not when the watchdog does. Every other fd (bench's sockets, pipes to its children,
  // whose EOF they wait for) is closed; the three kept move to 3-5 first.
  const int keep[3] = {::fcntl(socket, F_DUPFD, 10), parent_dir >= 0 ? ::fcntl(parent_dir, F_DUPFD, 10) : -1,
                       ::fcntl(devnull, F_DUPFD, 10)};
  for (int fd = 0; fd < 3; ++fd) ::dup2(keep[2], fd);
  ::dup2(keep[0], 3);
  if (keep[1] >= 0) ::dup2(keep[1], 4);
  close_other_fds(keep[1] >= 0 ? 5 : 4);
  socket = 3;
  parent_dir = keep[1] >= 0 ? 4 : -1;
  // A session of its own: whoever ends bench's whole process group with SIGKILL (mpirun's
  // daemon does, after a Ctrl-C) must not take the watchdog with it, or nobody is left to
  // remove the cgroup.
  ::setsid();
  // Ctrl-C and a SIGTERM to the group are for bench, which then ends normally and tells this.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(s, &ignore, nullptr);
  ::prctl(PR_SET_NAME, kWatchdogName);
  for (;;) {
    Record r;
    const ssize_t n = ::recv(socket, &r, sizeof r, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == static_cast<ssize_t>(sizeof r) && r.pid == 0) ::_exit(0);  // bench ended normally
    if (n == static_cast<ssize_t>(sizeof r)) {
      remember(r);
      continue;
    }
    break;  // EOF: bench is gone
  }
  if (parent_dir >= 0) end_cgroup(parent_dir, cgroup_name);
  for (std::size_t i = 0; i < g_record_count; ++i)
    if (same_process(g_records[i])) ::kill(g_records[i].group ? -g_records[i].pid : g_records[i].pid, SIGKILL);
  ::_exit(0);
}

// This process's cgroup v2 directory: the cgroup2 mount (from mountinfo) joined with the path
// in /proc/self/cgroup's "0::" line. Empty with `why` set when there is none.
std::string own_cgroup(std::string& why) {
  std::istringstream mounts(read_proc_file("/proc/self/mountinfo"));
  std::string mount_root, mount_point;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, word;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> word && word != "-") {
    }
    if (fields >> word && word == "cgroup2") {
      mount_root = root;
      mount_point = point;
      break;
    }
  }
  const auto none = [&why](const char* reason) {
    why = reason;
    return std::string();
  };
  if (mount_point.empty()) return none("no cgroup2 file system is mounted");
  std::istringstream cgroups(read_proc_file("/proc/self/cgroup"));
  std::string path;
  for (std::string line; std::getline(cgroups, line);)
    if (line.starts_with("0::")) path = line.substr(3);
  if (path.empty()) return none("this process has no cgroup v2 path in /proc/self/cgroup");
  if (mount_root != "/") {  // the mount shows a subtree: the path is relative to the root's
    if (!path.starts_with(mount_root)) return none("this process's cgroup is outside the mounted cgroup2 tree");
    path.erase(0, mount_root.size());
  }
  return mount_point + (path == "/" ? "" : path);
}

}  // namespace

std::uint64_t process_start_time(pid_t pid) noexcept {
  char path[40] = "/proc/";
  char digits[16];
  int n = 0;
  for (unsigned v = static_cast<unsigned>(pid); n == 0 || v > 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  std::size_t at = std::strlen(path);
  while (n > 0) path[at++] = digits[--n];
  std::memcpy(path + at, "/stat", 6);
  char buf[1024];
  if (read_at(AT_FDCWD, path, buf, sizeof buf) <= 0) return 0;
  const char* p = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
  if (!p) return 0;
  for (int field = 2; field < 22 && *p; ++p)  // field 2 ends at ')'; count the spaces after it
    if (*p == ' ') ++field;
  std::uint64_t start = 0;
  for (; *p >= '0' && *p <= '9'; ++p) start = start * 10 + static_cast<std::uint64_t>(*p - '0');
  return start;
}

ProcessTree& ProcessTree::get() {
  static ProcessTree tree;
  return tree;
}

ProcessTree::ProcessTree() : owner_(::getpid()) {
  std::string why;
  const std::string own = own_cgroup(why);
  if (!own.empty()) {
    std::uint32_t salt = 0;
    if (::getrandom(&salt, sizeof salt, 0) != sizeof salt) salt = static_cast<std::uint32_t>(::time(nullptr));
    // The pid says whose it is; the salt keeps another pid namespace's bench with the same pid apart.
    const std::string name = fmt::format("muxbench-{}-{:08x}", ::getpid(), salt);
    const std::string dir = own + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) {
      why = fmt::format("cannot create a cgroup in {}: {}", own, std::strerror(errno));
    } else {
      // Moving a process needs write access to cgroup.procs of the common ancestor too: here,
      // the cgroup bench itself is in.
      procs_.reset(::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
      parent_dir_.reset(::open(own.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (procs_ && parent_dir_ && ::access((own + "/cgroup.procs").c_str(), W_OK) == 0) {
        cgroup_ = dir;
      } else {
        why = fmt::format("cannot move processes into {}: {}", dir, std::strerror(errno));
        procs_.reset();
        parent_dir_.reset();
        ::rmdir(dir.c_str());
      }
    }
  }
  mechanism_ = cgroup_.empty() ? fmt::format("process groups ({}; a process that leaves its group is not ended if "
                                             "bench is killed)",
                                             why)
                               : "cgroup2 " + cgroup_;
  start_watchdog();
}

void ProcessTree::start_watchdog() {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) return;  // no watchdog: PDEATHSIG only
  const UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  const std::string name = cgroup_.empty() ? "" : cgroup_.substr(cgroup_.rfind('/') + 1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ends[0]);
    watch(ends[1], parent_dir_.get(), name.c_str(), devnull.get());
  }
  ::close(ends[1]);
  if (pid < 0) {
    ::close(ends[0]);
    return;
  }
  watchdog_.reset(ends[0]);
  watchdog_pid_ = pid;
}

ProcessTree::~ProcessTree() {
  if (::getpid() != owner_) return;  // a forked copy that exit()s (the watchdog only _exit()s)
  if (!cgroup_.empty()) end_cgroup(parent_dir_.get(), cgroup_.substr(cgroup_.rfind('/') + 1).c_str());
  if (watchdog_) {
    const Record normal_end{};
    ::send(watchdog_.get(), &normal_end, sizeof normal_end, MSG_NOSIGNAL);
    watchdog_.reset();
    int status = 0;
    while (::waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void ProcessTree::join_from_child() const noexcept {
  if (procs_) {
    [[maybe_unused]] const ssize_t n = ::write(procs_.get(), "0", 1);  // "0": the writer itself
  }
}

void ProcessTree::adopt(pid_t pid, bool group) {
  std::lock_guard lock(mutex_);
  if (!watchdog_) return;
  const Record r{static_cast<std::int32_t>(pid), group ? 1 : 0, process_start_time(pid)};
  ::send(watchdog_.get(), &r, sizeof r, MSG_NOSIGNAL);
}

}  // namespace mux
