#pragma once
// Where a field lies inside a kernel structure, read from the running kernel's own type
// information (BTF, /sys/kernel/btf/vmlinux): what an eBPF program needs to read a field of a
// task_struct it is handed, without libbpf's CO-RE; and the type id of a kernel function, which
// an fentry program names to be attached to it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mux {

// The byte offset of `path` (member names, nested: {"thread_info", "cpu"}) in `struct
// structure`; nullopt with `*why` set where there is no BTF or no such field.
std::optional<std::uint32_t> kernel_field_offset(const std::string& structure, const std::vector<std::string>& path,
                                                 std::string* why);

// The BTF type id of the kernel function `name` (a FUNC in /sys/kernel/btf/vmlinux); nullopt
// with `*why` set where there is no BTF or no such function.
std::optional<std::uint32_t> kernel_function_btf_id(const std::string& name, std::string* why);

}  // namespace mux
