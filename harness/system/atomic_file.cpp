#include "harness/system/atomic_file.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/unique_fd.hpp"
#include "core/usage_error.hpp"

namespace mux {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Where a write to a path goes: the file rename(2) replaces. `problem` is why it must not be
// written there (empty: it may).
struct Target {
  std::string path;
  std::string problem;
};

// The file this process's standard output or error goes to (`--hgrm=/dev/stdout`, or a link to
// /proc/self/fd/1, with stdout sent to a file): replaced, it would lose the table.
bool is_standard_stream(const struct stat& file) {
  for (const int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_dev == file.st_dev && st.st_ino == file.st_ino) return true;
  }
  return false;
}

constexpr const char* kStandardStream =
    "it is where this command's standard output or error goes, which the file would replace; give another path";

// Too long for the kernel: open() would fail with ENAMETOOLONG after the run.
std::string length_problem(const std::string& path) {
  if (path.size() >= PATH_MAX)
    return fmt::format("the path is {} bytes, more than the {} Linux allows; choose a shorter path", path.size(),
                       PATH_MAX - 1);
  for (std::size_t pos = 0; pos <= path.size();) {
    const std::size_t end = std::min(path.find('/', pos), path.size());
    if (end - pos > NAME_MAX)
      return fmt::format("a name in it is {} bytes, more than the {} a file name may have; choose a shorter name",
                         end - pos, NAME_MAX);
    pos = end + 1;
  }
  return {};
}

// rename() replaces whatever has the name: a device node, a FIFO, or the symbolic link itself
// (leaving the file it pointed to stale). So a link is followed to a regular file, and anything
// else is refused.
Target resolve_target(const std::string& path) {
  if (path.empty()) return {path, "the path is empty; give a file name"};
  if (path.back() == '/') return {path, "it ends with '/', which names a directory; give a file name"};
  if (std::string why = length_problem(path); !why.empty()) return {path, why};
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {path, {}};  // a new file; its directory is checked apart
    return {path, fmt::format("{}; choose another path", std::strerror(errno))};
  }
  if (S_ISREG(st.st_mode)) return {path, is_standard_stream(st) ? kStandardStream : ""};
  if (!S_ISLNK(st.st_mode))
    return {path, fmt::format("it is {}, which the file would replace; give the path of a regular file",
                              kind_of(st.st_mode))};
  if (::stat(path.c_str(), &st) != 0)
    return {path, "it is a symbolic link to nothing; remove it or give the path of a regular file"};
  if (!S_ISREG(st.st_mode))
    return {path, fmt::format("it is a symbolic link to {}, which the file would replace; give the path of a "
                              "regular file",
                              kind_of(st.st_mode))};
  if (is_standard_stream(st)) return {path, kStandardStream};
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return {path, fmt::format("its link cannot be followed ({})", std::strerror(errno))};
  std::string resolved(real);
  std::free(real);
  return {resolved, {}};
}

// The same file, named two ways: its directory resolved (symbolic links, "..") and its name.
std::string canonical(const std::string& target) {
  char* real = ::realpath(parent_of(target).c_str(), nullptr);
  if (real == nullptr) return target;
  std::string dir(real);
  std::free(real);
  return (dir == "/" ? "" : dir) + "/" + base_of(target);
}

}  // namespace

void check_output_files(const std::vector<OutputFile>& files) {
  std::vector<std::string> seen;
  for (const OutputFile& f : files) {
    if (f.path.empty()) continue;
    const Target t = resolve_target(f.path);
    if (!t.problem.empty()) throw UsageError(fmt::format("cannot write {}={}: {}", f.flag, f.path, t.problem));
    // The file is written only after the run: an unwritable directory is found now, before
    // minutes of measurement are lost to it.
    const std::string dir = parent_of(t.path);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(dir.c_str(), W_OK) != 0)
      throw UsageError(fmt::format("cannot write {}={}: directory {} does not exist or is not writable; create it "
                                   "or choose another path",
                                   f.flag, f.path, dir));
    const std::string key = canonical(t.path);
    for (std::size_t i = 0; i < seen.size(); ++i)
      if (seen[i] == key)
        throw UsageError(fmt::format("{}={} and {}={} are the same file, so one would overwrite the other; give "
                                     "each output its own path",
                                     files[i].flag, files[i].path, f.flag, f.path));
    seen.push_back(key);
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const Target target = resolve_target(path);
  if (!target.problem.empty()) throw std::runtime_error(fmt::format("cannot write {}: {}", path, target.problem));
  // A short temporary name of its own (not PATH.tmp.PID): a valid name of NAME_MAX bytes would
  // overflow it. O_EXCL: never opened through a link someone planted under that name.
  static std::atomic<unsigned> serial{0};
  const std::string tmp = fmt::format("{}/.muxbench-{}-{}.tmp", parent_of(target.path), ::getpid(), serial++);
  auto fail = [&](const char* what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write {} ({}: {})", path, what, std::strerror(err)));
  };
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) fail("open");
    for (std::size_t done = 0; done < content.size();) {
      const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("write");
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail("fsync");
  }
  // Checked again just before the rename: the path may have become a device, a FIFO or a
  // directory while the run was measured.
  struct stat st {};
  if (::lstat(target.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write {}: it is now {}, which the file would replace", path,
                                         S_ISLNK(st.st_mode) ? "a symbolic link" : kind_of(st.st_mode)));
  }
  if (::rename(tmp.c_str(), target.path.c_str()) != 0) fail("rename");
}

}  // namespace mux
