#include "core/request_work.hpp"

#include <memory>
#include <utility>

#include "core/clock.hpp"

namespace mux {
namespace {

// Busy-waits on the monotonic clock (no syscall, no sleep: the core stays busy, as with real
// work) until `ns` nanoseconds have passed.
void burn_cpu_ns(std::uint64_t ns) {
  if (ns == 0) return;
  const std::uint64_t until = now_ns() + ns;
  while (now_ns() < until) {
  }
}

class WorkingServerCodec final : public ServerCodec {
 public:
  WorkingServerCodec(std::unique_ptr<ServerCodec> inner, std::uint64_t work_ns)
      : inner_(std::move(inner)), work_ns_(work_ns) {}

  bool on_bytes(std::span<const char> in, ByteBuffer& out) override {
    const std::uint64_t before = inner_->requests();
    const bool keep_open = inner_->on_bytes(in, out);
    burn_cpu_ns((inner_->requests() - before) * work_ns_);
    return keep_open;
  }
  bool broke_protocol() const override { return inner_->broke_protocol(); }
  std::uint64_t requests() const override { return inner_->requests(); }

 private:
  std::unique_ptr<ServerCodec> inner_;
  std::uint64_t work_ns_;
};

}  // namespace

ServerCodecFactory with_request_work(ServerCodecFactory inner, std::uint64_t work_ns) {
  if (work_ns == 0) return inner;
  return [inner = std::move(inner), work_ns] { return std::make_unique<WorkingServerCodec>(inner(), work_ns); };
}

}  // namespace mux
