// Every backend, in the order tables list them. Adding one: its file, and one line here.
#include <array>

#include "backends/backend.hpp"

namespace mux {

std::unique_ptr<Backend> make_threads_backend();
std::unique_ptr<Backend> make_select_backend();
std::unique_ptr<Backend> make_poll_backend();
std::unique_ptr<Backend> make_epoll_backend();
std::unique_ptr<Backend> make_io_uring_backend();

namespace {
constexpr std::array kBackends{
    BackendEntry{"threads", make_threads_backend},
    BackendEntry{"select", make_select_backend},
    BackendEntry{"poll", make_poll_backend},
    BackendEntry{"epoll", make_epoll_backend},
    BackendEntry{"io_uring", make_io_uring_backend},
};
}  // namespace

std::span<const BackendEntry> backend_registry() { return kBackends; }

std::unique_ptr<Backend> make_backend(std::string_view name) {
  for (const auto& entry : kBackends)
    if (entry.name == name) return entry.make();
  return nullptr;
}

}  // namespace mux
