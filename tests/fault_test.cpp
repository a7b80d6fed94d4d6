// Server faults, each on every backend: a client that resets mid-message, a half-closed
// client, a slowloris client, an oversized message, an oversized HTTP head, garbage bytes,
// 5,000 connect-then-close, accept under EMFILE, and a client that never reads its replies
// (backpressure). In every case the server keeps serving
// well-behaved clients, does not spin while idle, gets its fd count back to where it was,
// and stops cleanly on SIGTERM. A table of the outcomes is printed at the end of the run.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <tuple>

#include "tests/registry_params.hpp"
#include "tests/fault_harness.hpp"
#include "tests/fault_scenarios.hpp"

namespace mux::test {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's runtime works in the background of an idle thread-per-client server with a
// hundred threads (0.27-0.52 of a core measured): a spinning loop still takes a whole core.
constexpr double kMaxIdleCpu = 0.80;
#else
constexpr double kMaxIdleCpu = 0.20;  // of one core; a spinning loop takes ~1.0
#endif

enum class Scenario {
  reset_mid_message,
  half_closed,
  slowloris,
  oversized_message,
  oversized_http_header,
  garbage,
  connect_storm,
  accept_emfile,
  never_reads,
};

std::string name_of(Scenario s) {
  switch (s) {
    case Scenario::reset_mid_message: return "ResetMidMessage";
    case Scenario::half_closed: return "HalfClosed";
    case Scenario::slowloris: return "Slowloris";
    case Scenario::oversized_message: return "OversizedMessage";
    case Scenario::oversized_http_header: return "OversizedHttpHeader";
    case Scenario::garbage: return "Garbage";
    case Scenario::connect_storm: return "ConnectStorm5000";
    case Scenario::accept_emfile: return "AcceptUnderEmfile";
    case Scenario::never_reads: return "NeverReadsReplies";
  }
  return "?";
}

void PrintTo(Scenario s, std::ostream* os) { *os << name_of(s); }

const std::vector<std::string> kBackends = every_backend();

// Cases that fail because of a known backend bug: skipped, naming the bug, until it is fixed.
const char* known_bug(Scenario, const std::string&) { return nullptr; }

// ---- the fault table ----

struct Row {
  std::string scenario, backend;
  std::string outcome = "no";  // yes, no, n/a (backend unavailable), skip (known bug)
  int fd_before = -1, fd_after = -1;
  double cpu = -1;  // idle CPU after the fault, fraction of a core
};

std::mutex g_rows_mutex;
std::vector<Row> g_rows;

void record(const Row& row) {
  std::lock_guard lock(g_rows_mutex);
  g_rows.push_back(row);
}

class FaultTable : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard lock(g_rows_mutex);
    if (g_rows.empty()) return;
    std::vector<std::string> scenarios;
    for (const Row& r : g_rows)
      if (std::find(scenarios.begin(), scenarios.end(), r.scenario) == scenarios.end()) scenarios.push_back(r.scenario);
    std::string table = "\nServer faults: survived, server fds before -> after, idle CPU after the fault\n";
    table += fmt::format("{:<22}", "scenario");
    for (const auto& b : kBackends) table += fmt::format("| {:<19}", b);
    table += "\n";
    for (const auto& s : scenarios) {
      table += fmt::format("{:<22}", s);
      for (const auto& b : kBackends) {
        std::string cell = "-";
        for (const Row& r : g_rows) {
          if (r.scenario != s || r.backend != b) continue;
          cell = r.outcome;
          if (r.fd_before >= 0) cell += fmt::format(" {}->{}", r.fd_before, r.fd_after);
          if (r.cpu >= 0) cell += fmt::format(" {:.0f}%", r.cpu * 100);
        }
        table += fmt::format("| {:<19}", cell);
      }
      table += "\n";
    }
    std::fputs(table.c_str(), stdout);
    std::fflush(stdout);
  }
};

[[maybe_unused]] ::testing::Environment* const g_fault_table = ::testing::AddGlobalTestEnvironment(new FaultTable);

// Polls the server's open fd count until it equals `target` (or `limit` passes); returns the last
// count. A liveness bound: a server that leaks the fd never gets there, a live one on a busy
// machine does in the end.
int wait_for_fd_count(const ServeProcess& s, int target, std::chrono::milliseconds limit = 10000ms) {
  const auto deadline = Clock::now() + limit;
  int n = s.fd_count();
  while (n != target && Clock::now() < deadline) {
    sleep_ms(10);
    n = s.fd_count();
  }
  return n;
}

using Inflict = std::function<void(ServeProcess&, int good, Aftermath&)>;
using CounterCheck = std::function<void(const nlohmann::json&)>;

// ---- the test ----

class ServerFault : public ::testing::TestWithParam<std::tuple<Scenario, std::string>> {
 protected:
  static int failed_parts() {
    const auto* result = ::testing::UnitTest::GetInstance()->current_test_info()->result();
    int failed = 0;
    for (int i = 0; i < result->total_part_count(); ++i)
      if (result->GetTestPartResult(i).failed()) ++failed;
    return failed;
  }

  // One server, one fault, and every common check; records a row of the table.
  void run(const std::string& label, const std::string& protocol, rlim_t nofile, const Inflict& inflict,
           const CounterCheck& check_counters) {
    Row row{label, std::get<1>(GetParam())};
    const int failed_before = failed_parts();
    struct Recorder {
      Row& row;
      int failed_before;
      bool& unavailable;
      ~Recorder() {
        row.outcome = unavailable ? "n/a" : failed_parts() > failed_before ? "no" : "yes";
        record(row);
      }
    } recorder{row, failed_before, unavailable_};
    run_checks(row, protocol, nofile, inflict, check_counters);
  }

  void run_checks(Row& row, const std::string& protocol, rlim_t nofile, const Inflict& inflict,
                  const CounterCheck& check_counters) {
    ServeProcess server(row.backend, protocol, nofile);
    if (!server.started()) {
      unavailable_ = server.start_error().find("unavailable") != std::string::npos;
      if (!unavailable_) ADD_FAILURE() << "bench serve did not start: " << server.start_error();
      return;
    }
    const auto round_trip = [&](int fd) { return protocol == "http" ? http_round_trip(fd) : echo_round_trip(fd); };

    // The baseline: once a first client has been served and has left, the backend has opened
    // every fd it keeps for itself.
    {
      UniqueFd warm = connect_to(server.port());
      ASSERT_TRUE(round_trip(warm.get())) << "the first client";
      const int with_warm = server.fd_count();
      const std::string with_warm_report = server.fd_report();
      warm.reset();
      row.fd_before = wait_for_fd_count(server, with_warm - 1);
      ASSERT_EQ(row.fd_before, with_warm - 1) << "the first client's connection was not closed; with it: "
                                              << with_warm_report << "\nnow: " << server.fd_report();
    }
    UniqueFd good = connect_to(server.port());
    ASSERT_TRUE(round_trip(good.get())) << "a well-behaved client before the fault";

    Aftermath after;
    inflict(server, good.get(), after);
    if (HasFatalFailure()) return;

    row.cpu = after.cpu ? *after.cpu : cpu_fraction(server, kIdleWindow);
    EXPECT_LT(row.cpu, kMaxIdleCpu) << "the server spins while idle after the fault";
    EXPECT_TRUE(round_trip(good.get())) << "the well-behaved client after the fault";
    ASSERT_TRUE(server.alive()) << "the server died: " << server.stop().err;

    after.held.clear();
    good.reset();
    row.fd_after = wait_for_fd_count(server, row.fd_before);
    EXPECT_EQ(row.fd_after, row.fd_before) << "the server's fd count did not return to where it was";
    {
      UniqueFd fresh = connect_to(server.port());
      EXPECT_TRUE(round_trip(fresh.get())) << "a new client after the fault";
    }

    const ServeProcess::Stopped stopped = server.stop();
    EXPECT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
    ASSERT_TRUE(stopped.counters.is_object()) << "no counters line: " << stopped.out << stopped.err;
    const auto& c = stopped.counters;
    EXPECT_EQ(c["accepted"], c["closed"]) << c.dump();
    check_counters(c);
    RecordProperty(row.scenario + "_counters", c.dump());
    RecordProperty(row.scenario + "_fds", fmt::format("{}->{}", row.fd_before, row.fd_after));
    EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
  }

  bool unavailable_ = false;
};

void at_least(const nlohmann::json& c, const char* key, std::uint64_t n) {
  EXPECT_GE(c[key].get<std::uint64_t>(), n) << key << " in " << c.dump();
}

TEST_P(ServerFault, KeepsServingOthers) {
  const auto& [scenario, backend] = GetParam();
  MUX_SKIP_IF_SLICED_OUT(backend);
  if (const char* bug = known_bug(scenario, backend)) {
    record({name_of(scenario), backend, "skip"});
    GTEST_SKIP() << bug;
  }
  const auto none = [](const nlohmann::json&) {};
  const auto protocol_error = [](const nlohmann::json& c) { at_least(c, "protocol_errors", 1); };
  const std::string label = name_of(scenario);
  switch (scenario) {
    case Scenario::reset_mid_message:
      run(label, "echo", 0, reset_mid_message, [](const nlohmann::json& c) { at_least(c, "resets", 1); });
      break;
    case Scenario::half_closed: run(label, "echo", 0, half_closed, none); break;
    case Scenario::slowloris:
      run(label, "echo", 0, slowloris, [](const nlohmann::json& c) { at_least(c, "requests", 10); });
      break;
    case Scenario::oversized_message: run(label, "echo", 0, oversized_message, protocol_error); break;
    case Scenario::oversized_http_header: run(label, "http", 0, oversized_http_header, protocol_error); break;
    case Scenario::garbage:
      run(label + "/echo", "echo", 0, echo_garbage, protocol_error);
      if (!unavailable_) run(label + "/http", "http", 0, http_garbage, protocol_error);
      break;
    case Scenario::connect_storm:
      run(label, "echo", 0, connect_storm, [](const nlohmann::json& c) {
        // the storm, the first client, the well-behaved one and the new one after the fault
        EXPECT_GE(c["accepted"].get<std::uint64_t>() + c["dropped_at_accept"].get<std::uint64_t>(),
                  std::uint64_t{kStormConnections} + 3) << c.dump();
      });
      break;
    case Scenario::accept_emfile:
      run(label, "echo", kLowFdLimit, accept_emfile, [](const nlohmann::json& c) { at_least(c, "dropped_at_accept", 1); });
      break;
    case Scenario::never_reads: run(label, "echo", 0, never_reads, none); break;
  }
  if (unavailable_) GTEST_SKIP() << backend << " is unavailable here";
}

INSTANTIATE_TEST_SUITE_P(
    EveryBackend, ServerFault,
    ::testing::Combine(::testing::Values(Scenario::reset_mid_message, Scenario::half_closed, Scenario::slowloris,
                                         Scenario::oversized_message, Scenario::oversized_http_header,
                                         Scenario::garbage, Scenario::connect_storm, Scenario::accept_emfile,
                                         Scenario::never_reads),
                       ::testing::ValuesIn(kBackends)),
    [](const auto& param_info) {
      return name_of(std::get<0>(param_info.param)) + "_" + param_name(std::get<1>(param_info.param));
    });

}  // namespace
}  // namespace mux::test
