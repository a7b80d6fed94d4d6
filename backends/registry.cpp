// Every backend, in the order tables list them: the one place a backend's name is written.
// Adding one: its file (or its switch), and one line here; the CLI, preflight, sweeps, the
// tests and the Python scripts (through `bench --list-backends --json`) all read this table.
#include <array>

#include <fmt/format.h>

#include "backends/backend.hpp"
#include "backends/io_uring.hpp"
#include "backends/readiness_loop.hpp"

namespace mux {

std::unique_ptr<Backend> make_threads_backend();

namespace {

std::string runs_anywhere() { return {}; }

// Direct descriptors (+fixed) live in one ring's table: an fd handed over by an acceptor
// thread is an ordinary fd, so those variants accept from a listener only.
constexpr std::uint8_t kListenerAcceptModes =
    accept_mode_bit(AcceptMode::reuseport) | accept_mode_bit(AcceptMode::shared);

constexpr BackendCapabilities kBlocking{.model = IoModel::blocking, .kernel_features = ""};
constexpr BackendCapabilities kLevelTriggered{
    .model = IoModel::readiness, .multi_loop = true, .accept_modes = kEveryAcceptMode, .kernel_features = ""};
constexpr BackendCapabilities kIoUring{.model = IoModel::completion,
                                       .multi_loop = true,
                                       .accept_modes = kEveryAcceptMode,
                                       .kernel_features = "io_uring (5.1); multishot accept 5.19, provided-buffer "
                                                          "ring 5.19, multishot recv 6.0, DEFER_TASKRUN 6.1 when present"};

constexpr std::array kBackends{
    BackendEntry{"threads", "threads", "one blocking thread per connection", kBlocking, make_threads_backend,
                 runs_anywhere},
    BackendEntry{"select", "select", "select(2) over fd bit sets: the whole set copied and scanned per wait",
                 kLevelTriggered, nullptr, runs_anywhere, make_select_poller},
    BackendEntry{"poll", "poll", "poll(2) over an array: the whole array passed per wait", kLevelTriggered,
                 nullptr, runs_anywhere, make_poll_poller},
    BackendEntry{"epoll", "epoll", "epoll(7), level-triggered: the kernel keeps the interest set", kLevelTriggered,
                 nullptr, runs_anywhere, make_epoll_poller},
    BackendEntry{"epoll+et", "epoll",
                 "epoll(7), edge-triggered: reads and accepts drained to EAGAIN, a per-wake-up budget, round-robin",
                 {.model = IoModel::readiness, .edge_triggered = true, .multi_loop = true, .accept_modes = kEveryAcceptMode,
                  .kernel_features = ""},
                 nullptr, runs_anywhere, make_epoll_et_poller},
    BackendEntry{"epoll+exclusive", "epoll",
                 "epoll(7) with EPOLLEXCLUSIVE on a listener shared by several loops: one waiter woken per connection",
                 {.model = IoModel::readiness, .multi_loop = true, .accept_modes = accept_mode_bit(AcceptMode::shared),
                  .needs_shared_listener = true, .kernel_features = "EPOLLEXCLUSIVE (4.5)"},
                 nullptr, runs_anywhere, make_epoll_exclusive_poller},
    BackendEntry{"io_uring", "io_uring", "io_uring(7): multishot accept and recv into a provided-buffer ring",
                 kIoUring, [] { return make_io_uring_backend({}); }, probe_io_uring},
    BackendEntry{"io_uring+nodefer", "io_uring",
                 "io_uring without DEFER_TASKRUN/SINGLE_ISSUER: the kernel runs completion work when it likes",
                 kIoUring, [] { return make_io_uring_backend({.defer_taskrun = false}); }, probe_io_uring},
    BackendEntry{"io_uring+fixed", "io_uring",
                 "io_uring with a registered ring fd and direct descriptors: multishot accept into the fixed file "
                 "table, recv/send on table slots (no fget/fput per operation)",
                 {.model = IoModel::completion, .multi_loop = true, .accept_modes = kListenerAcceptModes,
                  .direct_descriptors = true,
                  .kernel_features = "registered ring fd 5.18, sparse fixed files and direct accept/close 5.19, "
                                     "plus io_uring's"},
                 [] { return make_io_uring_backend({.fixed_files = true}); }, probe_io_uring_fixed},
    BackendEntry{"io_uring+sqpoll", "io_uring",
                 "io_uring with an SQPOLL kernel thread pinned to a server CPU: submits without system calls, but "
                 "burns that CPU while busy (opt-in: not in `all`; no DEFER_TASKRUN, which SQPOLL excludes)",
                 {.model = IoModel::completion, .multi_loop = true, .accept_modes = kEveryAcceptMode,
                  .opt_in = true, .kernel_features = "SQPOLL + SQ_AFF (unprivileged 5.11), plus io_uring's"},
                 [] { return make_io_uring_backend({.defer_taskrun = false, .sqpoll = true}); }, probe_io_uring_sqpoll},
    BackendEntry{"io_uring+zc", "io_uring",
                 "io_uring with zero-copy sends (SEND_ZC) for replies of --zc-threshold bytes or more, copied sends "
                 "below; each reply buffer kept until its notification",
                 {.model = IoModel::completion, .multi_loop = true, .accept_modes = kEveryAcceptMode,
                  .kernel_features = "IORING_OP_SEND_ZC 6.0, plus io_uring's"},
                 [] { return make_io_uring_backend({.zero_copy = true}); }, probe_io_uring_zc},
    // Send bundles are not offered: a connection's replies already go out as one contiguous
    // buffer in one send, which is what a send bundle would gather, and a bundle would need a
    // provided send-buffer ring per connection (to keep each socket's bytes in order) and a
    // copy of every reply into it.
    BackendEntry{"io_uring+bundle", "io_uring",
                 "io_uring with recv bundles: one multishot completion fills several provided buffers in a row",
                 {.model = IoModel::completion, .multi_loop = true, .accept_modes = kEveryAcceptMode,
                  .kernel_features = "IORING_RECVSEND_BUNDLE 6.10, plus io_uring's"},
                 [] { return make_io_uring_backend({.bundle = true}); }, probe_io_uring_bundle},
    BackendEntry{"io_uring+fixed+bundle", "io_uring",
                 "io_uring+fixed and io_uring+bundle together: recv bundles on direct descriptors",
                 {.model = IoModel::completion, .multi_loop = true, .accept_modes = kListenerAcceptModes,
                  .direct_descriptors = true, .kernel_features = "those of io_uring+fixed and io_uring+bundle"},
                 [] { return make_io_uring_backend({.fixed_files = true, .bundle = true}); },
                 probe_io_uring_fixed_bundle},
    BackendEntry{"io_uring+singleshot", "io_uring",
                 "io_uring with single-shot accept and recv into per-connection buffers (older kernels' path)",
                 {.model = IoModel::completion, .multi_loop = true, .accept_modes = kEveryAcceptMode,
                  .kernel_features = "io_uring (5.1)"},
                 [] { return make_io_uring_backend({.single_shot = true}); }, probe_io_uring},
};

}  // namespace

std::string_view io_model_name(IoModel model) {
  switch (model) {
    case IoModel::readiness: return "readiness";
    case IoModel::completion: return "completion";
    case IoModel::blocking: return "blocking";
  }
  return "unknown";
}

std::string_view accept_mode_name(AcceptMode mode) {
  switch (mode) {
    case AcceptMode::reuseport: return "reuseport";
    case AcceptMode::shared: return "shared";
    case AcceptMode::handoff: return "handoff";
  }
  return "unknown";
}

std::span<const BackendEntry> backend_registry() { return kBackends; }

// The one every readiness-vs-completion comparison starts from.
std::string_view default_backend_name() { return "epoll"; }

const BackendEntry* find_backend(std::string_view name) {
  for (const auto& entry : kBackends)
    if (entry.name == name) return &entry;
  return nullptr;
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  const BackendEntry* entry = find_backend(name);
  if (entry == nullptr) return nullptr;
  // A readiness backend is the shared loop on its poller; the others build themselves.
  return entry->make != nullptr ? entry->make() : make_readiness_backend(entry->make_poller);
}

std::vector<std::string> backends_in_all() {
  std::vector<std::string> names;
  for (const auto& entry : kBackends)
    if (!entry.capabilities.opt_in) names.emplace_back(entry.name);
  return names;
}

std::string backend_name_list() {
  std::string list;
  for (const auto& entry : kBackends) list += fmt::format("{}{}", list.empty() ? "" : ", ", entry.name);
  return list;
}

}  // namespace mux
