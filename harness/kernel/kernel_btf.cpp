#include "harness/kernel/kernel_btf.hpp"

#include <fcntl.h>
#include <linux/btf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/unique_fd.hpp"

namespace mux {
namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

// The types of the BTF blob, numbered from 1 as BTF numbers them.
struct BtfTypes {
  const char* data = nullptr;
  std::size_t size = 0;
  std::string copy;  // where it could not be mapped
  const char* strings = nullptr;
  std::size_t strings_len = 0;
  std::vector<const btf_type*> types{nullptr};  // [0] is "void"

  bool named(std::uint32_t off, const std::string& name) const {
    return off < strings_len && std::strncmp(strings + off, name.c_str(), strings_len - off) == 0;
  }
};

std::size_t extra_bytes(const btf_type& t) {
  const std::uint32_t vlen = BTF_INFO_VLEN(t.info);
  switch (BTF_INFO_KIND(t.info)) {
    case BTF_KIND_INT: return sizeof(std::uint32_t);
    case BTF_KIND_ARRAY: return sizeof(btf_array);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: return vlen * sizeof(btf_member);
    case BTF_KIND_ENUM: return vlen * sizeof(btf_enum);
    case BTF_KIND_FUNC_PROTO: return vlen * sizeof(btf_param);
    case BTF_KIND_VAR: return sizeof(btf_var);
    case BTF_KIND_DATASEC: return vlen * sizeof(btf_var_secinfo);
    case BTF_KIND_DECL_TAG: return sizeof(btf_decl_tag);
    case BTF_KIND_ENUM64: return vlen * sizeof(btf_enum64);
    default: return 0;  // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
  }
}

std::optional<BtfTypes> load(std::string* why) {
  // Mapped where the kernel allows it (6.16+): reading it takes one system call per 4 KiB
  // (1,350 here), which would show in the load generator's count of system calls.
  BtfTypes b;
  std::error_code error;
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(kVmlinuxBtf, error));
  if (const UniqueFd fd(::open(kVmlinuxBtf, O_RDONLY | O_CLOEXEC)); fd && !error && size > 0) {
    if (void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0); m != MAP_FAILED) {
      b.data = static_cast<const char*>(m);  // kept for the process's lifetime, as the types
      b.size = size;
    } else {
      b.copy.resize(size);
      const ssize_t got = ::read(fd.get(), b.copy.data(), size);  // the rest in 4 KiB reads
      for (std::size_t done = got > 0 ? static_cast<std::size_t>(got) : size; done < size;) {
        const ssize_t more = ::read(fd.get(), b.copy.data() + done, size - done);
        if (more <= 0) break;
        done += static_cast<std::size_t>(more);
      }
      b.data = b.copy.data();
      b.size = b.copy.size();
    }
  }
  btf_header h{};
  if (b.size < sizeof h) {
    *why = fmt::format("{} is missing (a kernel without CONFIG_DEBUG_INFO_BTF)", kVmlinuxBtf);
    return std::nullopt;
  }
  std::memcpy(&h, b.data, sizeof h);
  if (h.magic != BTF_MAGIC || std::size_t{h.hdr_len} + h.str_off + h.str_len > b.size ||
      std::size_t{h.hdr_len} + h.type_off + h.type_len > b.size) {
    *why = fmt::format("{} is not BTF this code can read", kVmlinuxBtf);
    return std::nullopt;
  }
  b.strings = b.data + h.hdr_len + h.str_off;
  b.strings_len = h.str_len;
  const char* at = b.data + h.hdr_len + h.type_off;
  const char* end = at + h.type_len;
  while (at + sizeof(btf_type) <= end) {
    const auto* t = reinterpret_cast<const btf_type*>(at);  // the blob is 4-byte aligned data
    b.types.push_back(t);
    at += sizeof(btf_type) + extra_bytes(*t);
  }
  return b;
}

// Through typedefs and qualifiers to the structure itself.
const btf_type* resolve(const BtfTypes& b, std::uint32_t id) {
  for (int hops = 0; id < b.types.size() && hops < 16; ++hops) {
    const btf_type* t = b.types[id];
    switch (BTF_INFO_KIND(t->info)) {
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG: id = t->type; continue;
      default: return t;
    }
  }
  return nullptr;
}

const std::optional<BtfTypes>& vmlinux(std::string* why) {
  static const std::optional<BtfTypes> btf = load(why);
  if (!btf && why->empty()) *why = fmt::format("{} could not be read", kVmlinuxBtf);
  return btf;
}

}  // namespace

std::optional<std::uint32_t> kernel_function_btf_id(const std::string& name, std::string* why) {
  const auto& btf = vmlinux(why);
  if (!btf) return std::nullopt;
  for (std::size_t id = 1; id < btf->types.size(); ++id)
    if (BTF_INFO_KIND(btf->types[id]->info) == BTF_KIND_FUNC && btf->named(btf->types[id]->name_off, name))
      return static_cast<std::uint32_t>(id);
  *why = fmt::format("the kernel's BTF has no function {}", name);
  return std::nullopt;
}

std::optional<std::uint32_t> kernel_field_offset(const std::string& structure, const std::vector<std::string>& path,
                                                 std::string* why) {
  const auto& btf = vmlinux(why);
  if (!btf) return std::nullopt;
  const btf_type* current = nullptr;
  for (std::size_t id = 1; id < btf->types.size() && !current; ++id)
    if (BTF_INFO_KIND(btf->types[id]->info) == BTF_KIND_STRUCT && btf->named(btf->types[id]->name_off, structure))
      current = btf->types[id];
  std::uint32_t bits = 0;
  for (const std::string& field : path) {
    if (!current || BTF_INFO_KIND(current->info) != BTF_KIND_STRUCT) break;
    const auto* members = reinterpret_cast<const btf_member*>(current + 1);
    const btf_type* next = nullptr;
    for (std::uint32_t i = 0; i < BTF_INFO_VLEN(current->info) && !next; ++i)
      if (btf->named(members[i].name_off, field)) {
        // With kind_flag the offset's top 8 bits are a bitfield's size: never ours.
        bits += BTF_INFO_KFLAG(current->info) ? BTF_MEMBER_BIT_OFFSET(members[i].offset) : members[i].offset;
        next = &field == &path.back() ? current : resolve(*btf, members[i].type);
      }
    if (!next) {
      *why = fmt::format("the kernel's struct {} has no field {} (BTF)", structure, fmt::join(path, "."));
      return std::nullopt;
    }
    current = next;
  }
  if (!current) {
    *why = fmt::format("the kernel's BTF has no struct {}", structure);
    return std::nullopt;
  }
  return bits / 8;
}

}  // namespace mux
