#include "core/request_work.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/clock.hpp"
#include "core/echo_protocol.hpp"

namespace mux {
namespace {

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

std::uint64_t work_ns(double us) { return static_cast<std::uint64_t>(std::clamp(us, 0.0, kMaxWorkUs) * 1000.0 + 0.5); }

std::uint64_t request_work_ns(const Distribution& work_us, std::span<const char> key) {
  if (work_us.is_fixed()) return work_ns(work_us.mean());
  std::uint64_t bits = 0;
  std::memcpy(&bits, key.data(), std::min(key.size(), kWorkKeyBytes));
  // The key's length goes in too: a 3-byte payload and an 8-byte one starting with the same
  // bytes and zeros are different requests.
  return work_ns(work_us.quantile(unit_from_bits(mix64(bits ^ (key.size() * 0x9e3779b97f4a7c15ULL)))));
}

void burn_cpu_ns(std::uint64_t ns) {
  if (ns == 0) return;
  const std::uint64_t until = now_ns() + ns;
  while (now_ns() < until) {
  }
}

ServerCodecFactory with_request_work(ServerCodecFactory inner, std::uint64_t work_ns) {
  if (work_ns == 0) return inner;
  return [inner = std::move(inner), work_ns] { return std::make_unique<WorkingServerCodec>(inner(), work_ns); };
}

bool supports_request_work(std::string_view protocol, const Distribution& work_us) {
  if (work_us.is_fixed()) return work_us.mean() == 0 || protocol_counts_requests(protocol);
  return protocol == "echo";
}

ServerCodecFactory with_request_work(std::string_view protocol, const Distribution& work_us) {
  if (!supports_request_work(protocol, work_us)) return nullptr;
  if (work_us.is_fixed()) return with_request_work(server_codec_factory(protocol), work_ns(work_us.mean()));
  auto shared = std::make_shared<const Distribution>(work_us);
  return [shared] { return std::make_unique<EchoServerCodec>(shared); };
}

}  // namespace mux
