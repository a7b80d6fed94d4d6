#pragma once
// The server faults of tests/fault_test.cpp, one function each: what a misbehaving client
// does to a `bench serve` child, and the checks particular to that fault. The checks common
// to every fault (the well-behaved client, idle CPU, fds, clean stop) are fault_test.cpp's.
#include <sys/resource.h>

#include <chrono>
#include <optional>
#include <vector>

#include "core/unique_fd.hpp"
#include "tests/fault_harness.hpp"

namespace mux::test {

// Idle CPU is measured over this window, after the fault.
inline constexpr std::chrono::milliseconds kIdleWindow{600};
inline constexpr int kStormConnections = 5000;
inline constexpr rlim_t kLowFdLimit = 64;  // the server's RLIMIT_NOFILE in accept_emfile

// What a fault leaves behind for the common checks.
struct Aftermath {
  std::vector<UniqueFd> held;  // faulty connections the client still holds open
  std::optional<double> cpu;   // idle CPU, when the scenario measured it itself
};

// The server's CPU over `window`, as a fraction of one core.
double cpu_fraction(const ServeProcess& s, std::chrono::milliseconds window);

// Each takes the server, a well-behaved client's connection, and what it leaves behind.
void reset_mid_message(ServeProcess& s, int good, Aftermath& a);
void half_closed(ServeProcess& s, int good, Aftermath& a);
void slowloris(ServeProcess& s, int good, Aftermath& a);
void oversized_message(ServeProcess& s, int good, Aftermath& a);
void oversized_http_header(ServeProcess& s, int good, Aftermath& a);
void echo_garbage(ServeProcess& s, int good, Aftermath& a);
void http_garbage(ServeProcess& s, int good, Aftermath& a);
void connect_storm(ServeProcess& s, int good, Aftermath& a);
void accept_emfile(ServeProcess& s, int good, Aftermath& a);
void never_reads(ServeProcess& s, int good, Aftermath& a);

}  // namespace mux::test
