// Every backend serves real clients through the real `bench`: zero errors, every byte verified,
// and the server's own request count agrees with the client's.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "tests/registry_params.hpp"
#include "tests/run_bench.hpp"

namespace mux::test {
namespace {

struct Case {
  std::string backend;
  std::string protocol;
  int message_size;
  int clients = 100;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.backend << "/" << c.protocol << "/" << c.clients << "x" << c.message_size;
}

class BackendServes : public ::testing::TestWithParam<Case> {};

TEST_P(BackendServes, EveryByteVerifiedAndNoErrors) {
  const Case& c = GetParam();
  MUX_SKIP_IF_SLICED_OUT(c.backend);
  // Short runs, so that the matrix stays cheap; a run whose window saw no reply is repeated with
  // a longer one (bench_until_replies). 256 KiB messages start longer. ThreadSanitizer slows both sides 5-15x: there
  // 100 clients' first 256 KiB round trips outlasted a 0.1 s warm-up and a 0.5 s window once
  // (io_uring, 0 requests), so large messages get 4x both; so does AddressSanitizer, where the
  // same happened on a loaded machine.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr double kLargeSlowdown = 4;
#else
  constexpr double kLargeSlowdown = 1;
#endif
  const bool large = c.message_size >= 262144;
  const double duration = large ? 0.5 * kLargeSlowdown : 0.3;
  const double warmup = large ? 0.1 * kLargeSlowdown : 0.1;
  TempDir dir;
  const std::string json = dir.file("result.json");
  const Outcome o = bench_until_replies({"--backend=" + c.backend, "--protocol=" + c.protocol,
                                        fmt::format("--clients={}", c.clients),
                                        fmt::format("--message-size={}", c.message_size), "--json=" + json},
                                       warmup, duration);
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto doc = read_json(json);
  const auto& r = doc["results"];
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_TRUE(doc["complete"].get<bool>());
  EXPECT_EQ(doc["config"]["backend"], c.backend);
  EXPECT_EQ(r["errors"], 0) << r.dump(2);
  const auto requests = r["requests"].get<std::uint64_t>();
  EXPECT_GT(requests, 0u) << "clients should complete requests";
  // Echo frames carry a 4-byte length; raw messages are the bytes alone; an HTTP response's
  // size depends on its headers, so there every byte is verified but not counted here.
  const auto verified = r["bytes_verified"].get<std::uint64_t>();
  if (c.protocol == "echo") {
    EXPECT_EQ(verified, requests * (c.message_size + 4));
  } else if (c.protocol == "raw") {
    EXPECT_EQ(verified, requests * c.message_size);
  } else {
    EXPECT_GT(verified, requests);
  }
  const auto& server = r["server_counters"];
  ASSERT_TRUE(server.is_object()) << "the server reported no counters";
  if (c.protocol != "raw") {  // raw has no message boundaries: the server cannot count requests
    EXPECT_GE(server["requests"].get<std::uint64_t>(), requests) << "the server answered fewer than the client counted";
    const auto& check = r["request_count_check"];
    ASSERT_TRUE(check.is_object()) << r.dump(2);
    EXPECT_TRUE(check["ok"].get<bool>()) << check.dump();
    EXPECT_EQ(check["server_answered"], server["requests"]);
    EXPECT_GE(check["client_completed"].get<std::uint64_t>(), requests) << "the whole run includes the measured interval";
    EXPECT_LE(check["client_completed"].get<std::uint64_t>(), check["client_sent"].get<std::uint64_t>());
  }
  // One window: throughput is the requests over exactly the measured seconds, and the
  // timeline's seconds hold every one of them.
  EXPECT_DOUBLE_EQ(static_cast<double>(requests) / r["measured_seconds"].get<double>(), r["throughput_rps"].get<double>());
  EXPECT_NEAR(r["measured_seconds"].get<double>(), duration, 1e-9) << "a complete run measures exactly --duration";
  std::uint64_t in_timeline = 0;
  for (const auto& second : r["timeline"]) in_timeline += second["requests"].get<std::uint64_t>();
  EXPECT_EQ(in_timeline, requests);
  EXPECT_GE(server["accepted"].get<std::uint64_t>(), static_cast<std::uint64_t>(c.clients));
  EXPECT_EQ(server["accepted"], server["closed"]) << "connections left open when the server stopped";
  EXPECT_EQ(server["protocol_errors"], 0);
  const auto& lat = r["latency_us"];
  EXPECT_GT(lat["p50"].get<double>(), 0);
  EXPECT_LE(lat["p50"].get<double>(), lat["p99"].get<double>());
  EXPECT_LE(lat["p99"].get<double>(), lat["max"].get<double>());
  EXPECT_TRUE(r["server_cpu_us_per_request"].is_number());
  EXPECT_TRUE(r["loadgen_cpu_us_per_request"].is_number());
  EXPECT_TRUE(r["server_busiest_thread_utilization"].is_number()) << r.dump(2);
  EXPECT_TRUE(r["loadgen_busiest_thread_utilization"].is_number()) << r.dump(2);
  EXPECT_EQ(doc["warnings"].dump().find("miscounts"), std::string::npos) << doc["warnings"].dump();
  EXPECT_NE(o.out.find(c.backend), std::string::npos) << "the table names the backend";
  EXPECT_TRUE(tagged_processes().empty()) << "a server process was left running";
}

// Every registry entry (variants included), 100 clients: one-byte echo messages (many per
// read), 256 KiB ones (many reads and short writes per message; also with 8 clients), raw bytes
// and HTTP.
std::vector<Case> every_backend_case() {
  std::vector<Case> cases;
  for (const std::string& backend : every_backend())
    for (const Case& shape : {Case{"", "echo", 1}, Case{"", "echo", 262144}, Case{"", "echo", 262144, 8},
                              Case{"", "raw", 128}, Case{"", "http", 128}})
      cases.push_back({backend, shape.protocol, shape.message_size, shape.clients});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(HundredClients, BackendServes, ::testing::ValuesIn(every_backend_case()),
                         [](const auto& param_info) {
                           const Case& c = param_info.param;
                           return fmt::format("{}_{}_{}x{}B", param_name(c.backend), c.protocol, c.clients,
                                              c.message_size);
                         });

// --backend=all runs every registry entry but the opt-in ones, one file each. Asked for two
// loops, an entry with no event loop to multiply is skipped, saying why, and the rest still
// run (the shape check of one entry must not stop the others).
TEST(BackendAll, RunsEveryBackendThatFitsTheFlagsAndSaysWhichItSkipped) {
  TempDir dir;
  const Outcome o = bench({"--backend=all", "--server-threads=2", "--clients=20", "--duration=0.3", "--warmup=0.1",
                           "--json=" + dir.file("run-{backend}.json")});
  ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
  std::size_t ran = 0;
  for (const auto& entry : backend_registry()) {
    const std::string b(entry.name);
    SCOPED_TRACE(b);
    const bool runs = !entry.capabilities.opt_in && entry.capabilities.multi_loop;
    const std::string path = dir.file(fmt::format("run-{}.json", b));
    ASSERT_EQ(std::filesystem::exists(path), runs) << o.out << o.err;
    if (runs) {
      ++ran;
      const auto doc = read_json(path);
      EXPECT_EQ(doc["config"]["backend"], b);
      EXPECT_EQ(doc["config"]["server_threads"], 2);
      EXPECT_EQ(doc["results"]["errors"], 0);
      EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 0u);
    } else if (entry.capabilities.opt_in) {
      EXPECT_EQ(o.out.find("\n" + b + " "), std::string::npos) << "an opt-in entry has a row\n" << o.out;
    } else {
      EXPECT_NE(o.out.find(b + " skipped: --backend=" + b + " has no event loop to multiply"), std::string::npos)
          << o.out;
    }
  }
  EXPECT_GT(ran, 1u);
}

// --work-us: the server burns the asked-for CPU per request (a lower bound: a busy-wait on the
// wall clock can lose time to preemption, so allow a fifth less), and still answers every byte.
TEST(ServerWork, EveryRequestCostsTheServerTheWorkAskedFor) {
  for (const std::string& backend : one_backend_per_model()) {
    SCOPED_TRACE(backend);
    TempDir dir;
    const Outcome o = bench({fmt::format("--backend={}", backend), "--protocol=http", "--clients=10", "--work-us=200",
                             "--duration=0.5", "--warmup=0.1", "--json=" + dir.file("r.json")});
    ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
    const auto doc = read_json(dir.file("r.json"));
    EXPECT_EQ(doc["config"]["server_work_us"], 200.0);
    EXPECT_EQ(doc["results"]["errors"], 0);
    EXPECT_GT(doc["results"]["requests"].get<std::uint64_t>(), 10u);
    EXPECT_GE(doc["results"]["server_cpu_us_per_request"].get<double>(), 160.0);
  }
}

}  // namespace
}  // namespace mux::test

namespace mux::test {
namespace {

// --read-size: every backend receives in reads of the asked-for size (io_uring: provided buffers
// of that size) and still answers 256 KiB messages byte for byte, whether a message takes 64
// reads or 4; the JSON records the size.
TEST(ReadSize, EveryBackendServesLargeMessagesAtEachReadSize) {
  constexpr std::uint64_t kMessage = 262144;
  for (const int read_size : {4096, 65536}) {
    for (const std::string& backend : backends_in_slice()) {
      SCOPED_TRACE(fmt::format("{} --read-size={}", backend, read_size));
      TempDir dir;
      const Outcome o = bench({"--backend=" + backend, "--clients=4", fmt::format("--message-size={}", kMessage),
                               fmt::format("--read-size={}", read_size), "--duration=0.5", "--warmup=0.1",
                               "--json=" + dir.file("r.json")});
      ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
      const auto doc = read_json(dir.file("r.json"));
      EXPECT_EQ(doc["config"]["read_size"], read_size);
      const auto& r = doc["results"];
      EXPECT_EQ(r["errors"], 0) << r.dump(2);
      const auto requests = r["requests"].get<std::uint64_t>();
      EXPECT_GT(requests, 0u);
      EXPECT_EQ(r["bytes_verified"].get<std::uint64_t>(), requests * (kMessage + 4));
      EXPECT_GE(r["server_counters"]["requests"].get<std::uint64_t>(), requests);
      EXPECT_EQ(r["server_counters"]["protocol_errors"], 0);
      EXPECT_TRUE(tagged_processes().empty());
    }
  }
}

// The SO_BUSY_POLL of each TCP socket process `pid` holds (read through duplicates taken with
// pidfd_getfd, which a process may do to its descendants).
std::vector<int> busy_poll_of_sockets(pid_t pid) {
  std::vector<int> values;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return values;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    if (!std::filesystem::read_symlink(entry.path(), ec).string().starts_with("socket:")) continue;
    const int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, std::stoi(entry.path().filename()), 0));
    if (fd < 0) continue;
    int domain = 0, value = -1;
    socklen_t length = sizeof domain;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && (domain == AF_INET || domain == AF_INET6)) {
      length = sizeof value;
      if (::getsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &value, &length) == 0) values.push_back(value);
    }
    ::close(fd);
  }
  ::close(pidfd);
  return values;
}

// --busy-poll=US: the server's listener and every connection it accepted poll for US µs (the
// option is set on the listener; accepted sockets inherit it), read from the server's own
// sockets while the run goes on. Without it they do not poll.
TEST(BusyPoll, TheListenerAndEveryAcceptedSocketPoll) {
  for (const int busy_poll_us : {0, 50}) {
    SCOPED_TRACE(fmt::format("--busy-poll={}", busy_poll_us));
    TempDir dir;
    std::vector<int> seen;
    const Outcome o = bench({"--backend=epoll", "--clients=3", "--duration=3", "--warmup=0.1",
                             fmt::format("--busy-poll={}", busy_poll_us), "--json=" + dir.file("r.json")},
                            [&seen](pid_t bench_pid) {
                              // Until the listener and the 3 connections are seen, or bench has ended.
                              const auto running = [bench_pid] {
                                const std::string stat = slurp(fmt::format("/proc/{}/stat", bench_pid));
                                const auto end = stat.rfind(") ");
                                return end != std::string::npos && stat[end + 2] != 'Z';
                              };
                              while (seen.size() < 4 && running()) {
                                for (const pid_t server : children_of(bench_pid)) {
                                  const auto values = busy_poll_of_sockets(server);
                                  if (values.size() > seen.size()) seen = values;
                                }
                                sleep_ms(50);
                              }
                            });
    ASSERT_EQ(o.exit_code, 0) << o.out << o.err;
    ASSERT_GE(seen.size(), 4u) << "the server's listener and its 3 connections";
    for (const int value : seen) EXPECT_EQ(value, busy_poll_us);
    EXPECT_EQ(read_json(dir.file("r.json"))["config"]["busy_poll"], busy_poll_us);
  }
}

}  // namespace
}  // namespace mux::test
