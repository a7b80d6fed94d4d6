#pragma once
// CPU lists ("0", "1-3", "0,2") and pinning. The server and the load generator are pinned to
// different cores by default so each one's CPU time is its own.
#include <string>
#include <vector>

namespace mux {

using CpuList = std::vector<int>;

CpuList parse_cpu_list(const std::string& text);  // throws UsageError on bad syntax
std::string format_cpu_list(const CpuList& cpus);
CpuList allowed_cpus();                      // this process's affinity mask
void pin_process(const CpuList& cpus);       // whole process (threads created later inherit it)
void pin_thread(int cpu);                    // the calling thread to one core

// Default split: the server gets the first half of the allowed cores, the load generator the
// rest; with one core both share it.
struct CpuSplit {
  CpuList server;
  CpuList client;
};
CpuSplit default_cpu_split();

}  // namespace mux
