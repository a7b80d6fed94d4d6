#pragma once
// Where a field lies inside a kernel structure, read from the running kernel's own type
// information (BTF, /sys/kernel/btf/vmlinux): what an eBPF program needs to read a field of a
// task_struct it is handed, without libbpf's CO-RE.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mux {

// The byte offset of `path` (member names, nested: {"thread_info", "cpu"}) in `struct
// structure`; nullopt with `*why` set where there is no BTF or no such field.
std::optional<std::uint32_t> kernel_field_offset(const std::string& structure, const std::vector<std::string>& path,
                                                 std::string* why);

}  // namespace mux
