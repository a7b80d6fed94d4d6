#include "harness/system/environment.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
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

// Does /proc/cpuinfo list the "hypervisor" flag (the CPUID bit a hypervisor sets)?
bool hypervisor_flag() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;)
      if (w == "hypervisor") return true;
    return false;
  }
  return false;
}

// The hypervisor's own name: CPUID leaf 0x40000000 carries a 12-byte vendor signature.
std::string hypervisor_signature() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(0x40000000, eax, ebx, ecx, edx);
  char sig[13] = {};
  std::memcpy(sig, &ebx, 4);
  std::memcpy(sig + 4, &ecx, 4);
  std::memcpy(sig + 8, &edx, 4);
  return sig;
#else
  return "";
#endif
}

// "kvm", "hyperv", "vmware", "xen", ... when a hypervisor runs this machine, "none" on bare
// metal, "unknown" when there is a hypervisor but nothing here names it. A VM and bare metal
// of the same CPU model perform differently, so the fingerprint tells them apart.
std::string virtualization() {
  if (!hypervisor_flag()) return "none";
  const std::string sig = hypervisor_signature();
  const std::pair<const char*, const char*> known[] = {
      {"KVMKVMKVM", "kvm"},       {"Microsoft Hv", "hyperv"}, {"VMwareVMware", "vmware"}, {"XenVMMXenVMM", "xen"},
      {"TCGTCGTCGTCG", "qemu"},   {"ACRNACRNACRN", "acrn"},   {"bhyve bhyve ", "bhyve"},  {" lrpepyh  vr", "parallels"},
      {"VBoxVBoxVBox", "oracle"}, {"QNXQVMBSQG", "qnx"}};
  for (const auto& [signature, name] : known)
    if (sig == signature) return name;
  for (const char* path : {"/sys/class/dmi/id/sys_vendor", "/sys/class/dmi/id/product_name"}) {
    const std::string vendor = read_first_line(path);
    if (!vendor.empty()) return vendor;
  }
  return sig.empty() ? "unknown" : sig;
}

}  // namespace

nlohmann::ordered_json describe_environment() {
  utsname u{};
  ::uname(&u);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string kernel = fmt::format("{} {}", u.sysname, u.release);
  const std::string cpu = cpu_model();
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
#ifdef __clang__
  const std::string compiler = fmt::format("clang {}", __clang_version__);
#else
  const std::string compiler = fmt::format("gcc {}", __VERSION__);
#endif
  return {
      {"kernel", kernel},
      {"kernel_version", u.version},
      {"hostname", host},
      {"cpu_model", cpu},
      {"online_cores", cores},
      {"compiler", compiler},
      {"build_type", MUXBENCH_BUILD_TYPE},
      // What must match for two results to be comparable (scripts/compare.py checks it;
      // the pinning, server_cpus/client_cpus, is in each run's config).
      {"machine_fingerprint",
       {{"cpu_model", cpu},
        {"online_cores", cores},
        {"kernel", kernel},
        {"virtualization", virtualization()},
        {"compiler", compiler},
        {"build_type", MUXBENCH_BUILD_TYPE}}},
      {"git_commit", MUXBENCH_GIT_COMMIT},
      {"muxbench_version", MUXBENCH_VERSION},
      {"date", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::now()))},
      {"io_uring_disabled", read_first_line("/proc/sys/kernel/io_uring_disabled")},
      {"somaxconn", read_first_line("/proc/sys/net/core/somaxconn")},
  };
}

}  // namespace mux
