#pragma once
// A server backend: one way of waiting for I/O, serving the shared protocol code.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/server_knobs.hpp"
#include "core/protocol.hpp"

namespace mux {

// What a backend did, reported by the server process when it stops. Updated on connect and
// close only (never per request), so atomics cost nothing measurable and threads can share them.
struct ServerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> closed{0};
  std::atomic<std::uint64_t> dropped_at_accept{0};  // EMFILE/ENFILE: accepted and closed at once
  std::atomic<std::uint64_t> refused{0};            // could not be served (e.g. no thread for it)
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::uint64_t> requests{0};           // complete requests answered
};

struct ServeContext {
  int listen_fd;                  // bound, listening, non-blocking; -1 when connections come by handoff_fd
  int stop_fd;                    // an eventfd that becomes readable when the server must stop
  ServerCodecFactory make_codec;  // one codec per connection
  ServerCounters* counters;
  ServerKnobs knobs{};            // --read-size, --zc-threshold...: backends/server_knobs.hpp
  // --accept=handoff: a non-blocking pipe on which an acceptor thread writes accepted fds (one
  // int per write, atomic below PIPE_BUF); the loop watches it as it would a listener and
  // serves each fd read from it. -1: the loop accepts from listen_fd itself.
  int handoff_fd = -1;
  // Set by the loop once its wait mechanism exists and watches its listener (or handoff pipe):
  // the server says it is ready only when every loop is. May be null.
  std::atomic<bool>* started = nullptr;
  // The connections are TCP (IPv4 or IPv6); false over a Unix socket (--transport=unix), which
  // has no TCP options and refuses zero-copy sends (EOPNOTSUPP: SEND_ZC is TCP's and UDP's).
  bool tcp = true;
};

// How several loops get their connections (--accept): an SO_REUSEPORT listener each; one
// listener all of them watch; or one acceptor thread handing each connection to the loop with
// the fewest open (Seastar's design).
enum class AcceptMode : std::uint8_t { reuseport, shared, handoff };
std::string_view accept_mode_name(AcceptMode mode);
inline constexpr std::uint8_t accept_mode_bit(AcceptMode mode) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(mode)); }
inline constexpr std::uint8_t kEveryAcceptMode = 0b111;

// --accept=handoff, the loop's side: reads the fds waiting on `handoff_fd` (one int each, as
// backends/multi_loop.cpp writes them) until EAGAIN and passes each to `take`.
void take_handed_off_fds(int handoff_fd, const std::function<void(int)>& take);

class Poller;  // backends/readiness_loop.hpp
using PollerFactory = std::unique_ptr<Poller> (*)();

class Backend {
 public:
  virtual ~Backend() = default;
  // Serves until ctx.stop_fd is readable, then closes every connection and returns.
  // Throws std::runtime_error when it cannot start.
  virtual void serve(const ServeContext& ctx) = 0;
};

// How a backend learns of I/O: it asks which sockets are ready, it is told what completed, or
// it blocks one thread per connection.
enum class IoModel : std::uint8_t { readiness, completion, blocking };
std::string_view io_model_name(IoModel model);

struct BackendCapabilities {
  IoModel model;
  bool edge_triggered = false;      // readiness reported once per change: the loop must drain
  bool multi_loop = false;          // several event loops (--server-threads) and processes (--server-processes)
  std::uint8_t accept_modes = 0;    // multi-loop: the --accept modes it has a design for (accept_mode_bit)
  // Its feature acts only when several loops watch one listener (EPOLLEXCLUSIVE): it needs
  // --accept=shared and more than one loop in all.
  bool needs_shared_listener = false;
  // Connections are io_uring direct descriptors (a fixed file table), not fds: they do not
  // appear in /proc/PID/fd.
  bool direct_descriptors = false;
  // Left out of `all` (--backend=all, --backends=all): it costs the machine something a
  // comparison should not pay unasked (SQPOLL's kernel thread spins on a CPU). Named, it runs.
  bool opt_in = false;
  std::string_view kernel_features; // what it needs from the kernel, for humans; "" for nothing special
};

// The registry: the one place a backend's name and facts are written. A variant of a base
// backend is named `BASE+FEATURE`, and is one more entry.
struct BackendEntry {
  std::string_view name;
  std::string_view base;  // the base backend's name; == name for a base backend
  std::string_view description;  // one line
  BackendCapabilities capabilities;
  std::unique_ptr<Backend> (*make)();  // nullptr: the readiness loop on make_poller
  // Empty when the backend can run on this machine; otherwise one line: why not, and the fix.
  std::string (*probe)();
  PollerFactory make_poller = nullptr;  // readiness backends: the wait mechanism, for its unit test

  bool is_variant() const { return name != base; }
  std::string_view feature() const { return is_variant() ? name.substr(base.size() + 1) : std::string_view{}; }
};

std::span<const BackendEntry> backend_registry();
const BackendEntry* find_backend(std::string_view name);  // nullptr when unknown
std::unique_ptr<Backend> make_backend(std::string_view name);  // nullptr when unknown
std::string_view default_backend_name();  // what `--backend` is when not given
// "threads, select, ..." for error messages.
std::string backend_name_list();
// What `all` means: every entry but the opt-in ones, in registry order.
std::vector<std::string> backends_in_all();

}  // namespace mux
