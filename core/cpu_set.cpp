#include "core/cpu_set.hpp"

#include <sched.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/net.hpp"

namespace mux {

CpuList parse_cpu_list(const std::string& text) {
  CpuList cpus;
  const CpuList allowed = allowed_cpus();
  std::size_t pos = 0;
  auto bad = [&] {
    return UsageError(fmt::format("bad CPU list '{}'; write cores like 0 or 0,1 or 0-3 (this machine allows {})",
                                  text, format_cpu_list(allowed)));
  };
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, end - pos);
    int lo = 0, hi = 0;
    char tail = 0;
    if (std::sscanf(item.c_str(), "%d-%d%c", &lo, &hi, &tail) == 2) {
    } else if (std::sscanf(item.c_str(), "%d%c", &lo, &tail) == 1) {
      hi = lo;
    } else {
      throw bad();
    }
    if (lo < 0 || hi < lo || hi >= CPU_SETSIZE) throw bad();
    // A core listed twice would get two pinned loops (or threads) as if it were two cores: the
    // per-CPU caps count it twice, and the CPU share is reported against twice its capacity.
    for (int c = lo; c <= hi; ++c) {
      if (std::ranges::find(cpus, c) != cpus.end())
        throw UsageError(fmt::format("CPU {} is listed twice in '{}'; list each core once, e.g. 0,1 or 0-3", c, text));
      cpus.push_back(c);
    }
    pos = end + 1;
  }
  if (cpus.empty()) throw bad();
  for (int c : cpus)
    if (std::ranges::find(allowed, c) == allowed.end())
      throw UsageError(fmt::format("CPU {} is not available to this process; choose from {}", c,
                                   format_cpu_list(allowed)));
  return cpus;
}

std::string format_cpu_list(const CpuList& cpus) { return fmt::format("{}", fmt::join(cpus, ",")); }

CpuList allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CpuList cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {0};
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

namespace {
void set_affinity(const CpuList& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    throw std::runtime_error(fmt::format("cannot pin to CPUs {}: {}", format_cpu_list(cpus), std::strerror(errno)));
}
}  // namespace

void pin_process(const CpuList& cpus) { set_affinity(cpus); }
void pin_thread(int cpu) { set_affinity({cpu}); }  // sched_setaffinity(0) acts on the calling thread

CpuSplit default_cpu_split() {
  const CpuList all = allowed_cpus();
  if (all.size() < 2) return {all, all};
  const auto half = static_cast<std::ptrdiff_t>(all.size() / 2);
  return {CpuList(all.begin(), all.begin() + half), CpuList(all.begin() + half, all.end())};
}

}  // namespace mux
