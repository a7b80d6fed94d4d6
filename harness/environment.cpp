#include "harness/environment.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "git_commit.hpp"  // generated at build time

namespace mux {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

nlohmann::ordered_json describe_environment() {
  utsname u{};
  ::uname(&u);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {
      {"kernel", fmt::format("{} {}", u.sysname, u.release)},
      {"kernel_version", u.version},
      {"hostname", host},
      {"cpu_model", cpu_model()},
      {"online_cores", ::sysconf(_SC_NPROCESSORS_ONLN)},
#ifdef __clang__
      {"compiler", fmt::format("clang {}", __clang_version__)},
#else
      {"compiler", fmt::format("gcc {}", __VERSION__)},
#endif
      {"build_type", MUXBENCH_BUILD_TYPE},
      {"git_commit", MUXBENCH_GIT_COMMIT},
      {"muxbench_version", MUXBENCH_VERSION},
      {"date", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::now()))},
      {"io_uring_disabled", read_first_line("/proc/sys/kernel/io_uring_disabled")},
      {"somaxconn", read_first_line("/proc/sys/net/core/somaxconn")},
  };
}

}  // namespace mux
