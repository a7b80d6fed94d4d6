// The load's config and result survive the trip between processes unchanged: histograms
// counter by counter (so merged percentiles are exact), timelines, counters, CPU; the JSON
// carries each field under its name; merging adds counts, merges histograms exactly, lines up
// timelines by second and lists the threads of both.
#include <gtest/gtest.h>

#include "loadgen/load_wire.hpp"

namespace mux {
namespace {

void expect_same(const LatencyHistogram& a, const LatencyHistogram& b) {
  ASSERT_EQ(a.sub_bucket_bits(), b.sub_bucket_bits());
  ASSERT_EQ(a.counters(), b.counters());
  for (std::size_t i = 0; i < a.counters(); ++i) ASSERT_EQ(a.count_at(i), b.count_at(i)) << "counter " << i;
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.sum(), b.sum());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.clamped(), b.clamped());
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) EXPECT_EQ(a.value_at_percentile(p), b.value_at_percentile(p));
}

TEST(LoadWire, ResultRoundTripsExactly) {
  LoadResult r;
  for (std::uint64_t v = 1; v < 5'000'000; v = v * 3 + 7) r.latency.record(v);
  r.latency.record(LatencyHistogram::kHighestTrackable * 2);  // clamped
  r.latency_uncorrected.record(42'000);
  r.connect_latency.record(9'999);
  r.requests = 123456;
  r.bytes_verified = 987654321;
  r.errors = {.connect = 1, .reset = 2, .mismatch = 3, .timeout = 4};
  r.reconnects = 5;
  r.churn_connects = 6;
  r.timeline.resize(3);
  r.timeline[1].requests = 77;
  r.timeline[1].errors = 1;
  r.timeline[1].latency.record(1'500);
  r.completed_total = 200000;
  r.sent_total = 200001;
  r.thread_cpu_ns = {10, 20, 30};
  r.thread_waiting_ns = {1, 2, 3};
  r.latency_by_work_class.resize(2);
  r.latency_by_work_class[0].record(11'000);
  r.latency_by_work_class[1].record(2'500'000);

  const LoadResult back = nlohmann::json::parse(nlohmann::json(r).dump()).get<LoadResult>();
  expect_same(r.latency, back.latency);
  expect_same(r.latency_uncorrected, back.latency_uncorrected);
  expect_same(r.connect_latency, back.connect_latency);
  EXPECT_EQ(back.requests, 123456u);
  EXPECT_EQ(back.bytes_verified, 987654321u);
  EXPECT_EQ(back.errors.connect, 1u);
  EXPECT_EQ(back.errors.reset, 2u);
  EXPECT_EQ(back.errors.mismatch, 3u);
  EXPECT_EQ(back.errors.timeout, 4u);
  EXPECT_EQ(back.reconnects, 5u);
  EXPECT_EQ(back.churn_connects, 6u);
  ASSERT_EQ(back.timeline.size(), 3u);
  EXPECT_EQ(back.timeline[1].requests, 77u);
  EXPECT_EQ(back.timeline[1].errors, 1u);
  expect_same(r.timeline[1].latency, back.timeline[1].latency);
  expect_same(r.timeline[0].latency, back.timeline[0].latency);  // an empty one stays empty
  EXPECT_EQ(back.completed_total, 200000u);
  EXPECT_EQ(back.sent_total, 200001u);
  EXPECT_EQ(back.thread_cpu_ns, (std::vector<std::uint64_t>{10, 20, 30}));
  EXPECT_EQ(back.thread_waiting_ns, (std::vector<std::uint64_t>{1, 2, 3}));
  ASSERT_EQ(back.latency_by_work_class.size(), 2u);
  expect_same(r.latency_by_work_class[0], back.latency_by_work_class[0]);
  expect_same(r.latency_by_work_class[1], back.latency_by_work_class[1]);
  // Without drawn work there are no classes, and merging one that has them takes them.
  LoadResult none;
  EXPECT_TRUE(nlohmann::json(none).get<LoadResult>().latency_by_work_class.empty());
  none.merge(back);
  ASSERT_EQ(none.latency_by_work_class.size(), 2u);
  EXPECT_EQ(none.latency_by_work_class[1].count(), 1u);
}

TEST(LoadWire, MergingReceivedShardsEqualsMergingTheOriginals) {
  LoadResult a, b;
  for (std::uint64_t v = 1000; v < 90'000; v += 37) a.latency.record(v);
  for (std::uint64_t v = 50'000; v < 3'000'000; v += 1011) b.latency.record(v);
  LoadResult local = a;
  local.merge(b);
  LoadResult received = nlohmann::json(a).get<LoadResult>();
  received.merge(nlohmann::json(b).get<LoadResult>());
  expect_same(local.latency, received.latency);
}

TEST(LoadWire, ConfigRoundTrips) {
  LoadConfig c;
  c.target = SocketAddress::parse("::1", 8080);
  c.clients = 12345;
  c.threads = 3;
  c.cpus = {1, 3};
  c.protocol = "http";
  c.message_size = Distribution::parse("uniform:64-4096");
  c.work_us = Distribution::parse("bimodal:0.9:0:2000");
  c.expected_body = std::string("hello\n");
  c.pipeline = 8;
  c.warmup_s = 0.5;
  c.duration_s = 2.25;
  c.timeout_s = 7;
  c.rate = 1000.5;
  c.arrival = LoadConfig::Arrival::poisson;
  c.seed = 99;
  c.idle = 10;
  c.churn = 100;
  c.sources = {SocketAddress::parse("::1", 0)};
  c.io = LoadConfig::Io::io_uring;
  c.io_fallback = "no io_uring here";
  const auto back = nlohmann::json::parse(nlohmann::json(c).dump()).get<LoadConfig>();
  EXPECT_EQ(back.target, c.target);
  EXPECT_EQ(back.clients, 12345u);
  EXPECT_EQ(back.threads, 3u);
  EXPECT_EQ(back.cpus, c.cpus);
  EXPECT_EQ(back.protocol, "http");
  EXPECT_EQ(back.message_size.to_string(), "uniform:64-4096");
  EXPECT_EQ(back.work_us.to_string(), "bimodal:0.9:0:2000");
  EXPECT_EQ(back.expected_body, c.expected_body);
  EXPECT_EQ(back.pipeline, 8u);
  EXPECT_EQ(back.warmup_s, 0.5);
  EXPECT_EQ(back.duration_s, 2.25);
  EXPECT_EQ(back.timeout_s, 7);
  EXPECT_EQ(back.rate, 1000.5);
  EXPECT_EQ(back.arrival, LoadConfig::Arrival::poisson);
  EXPECT_EQ(back.seed, 99u);
  EXPECT_EQ(back.idle, 10u);
  EXPECT_EQ(back.churn, 100u);
  ASSERT_EQ(back.sources.size(), 1u);
  EXPECT_EQ(back.sources[0], c.sources[0]);
  EXPECT_EQ(back.io, LoadConfig::Io::io_uring);
  EXPECT_EQ(back.io_fallback, c.io_fallback);
  LoadConfig none;
  none.target = SocketAddress::parse("127.0.0.1", 1);
  EXPECT_FALSE(nlohmann::json(none).get<LoadConfig>().expected_body.has_value());
}

TEST(LoadWire, ConfigJsonNamesEachFieldAsTheStructDoes) {
  LoadConfig c;
  c.target = SocketAddress::parse("127.0.0.1", 8080);
  c.clients = 7;
  c.cpus = {2, 5};
  c.message_size = Distribution::parse("exp:300");
  c.arrival = LoadConfig::Arrival::poisson;
  c.sources = {SocketAddress::parse("127.0.0.2", 0), SocketAddress::parse("127.0.0.3", 0)};
  const nlohmann::json j = c;
  EXPECT_EQ(j.at("target"), "127.0.0.1:8080");
  EXPECT_EQ(j.at("clients"), 7);
  EXPECT_EQ(j.at("cpus"), nlohmann::json::parse("[2, 5]"));
  EXPECT_EQ(j.at("message_size"), "exp:300");
  EXPECT_EQ(j.at("work_us"), "0");
  EXPECT_EQ(j.at("arrival"), "poisson");
  EXPECT_TRUE(j.at("expected_body").is_null());
  EXPECT_EQ(j.at("sources"), nlohmann::json::parse(R"(["127.0.0.2:0", "127.0.0.3:0"])"));
  EXPECT_EQ(j.at("io"), "auto");
  EXPECT_TRUE(j.at("io_fallback").is_null());
  EXPECT_EQ(j.size(), 20u) << "a key per LoadConfig field: " << j.dump();
  // A key missing is an error, not a default: both ends are the same build.
  nlohmann::json missing = j;
  missing.erase("churn");
  EXPECT_THROW(missing.get<LoadConfig>(), nlohmann::json::exception);
  nlohmann::json unknown_arrival = j;
  unknown_arrival["arrival"] = "bursty";
  EXPECT_ANY_THROW(unknown_arrival.get<LoadConfig>());
}

// A Unix socket target reaches the load processes as it is (`unix:PATH`).
TEST(LoadWire, UnixSocketTargetRoundTrips) {
  LoadConfig c;
  c.target = SocketAddress::unix_socket("/tmp/muxbench-wire-test.sock");
  const nlohmann::json j = c;
  EXPECT_EQ(j.at("target"), "unix:/tmp/muxbench-wire-test.sock");
  const auto back = j.get<LoadConfig>();
  EXPECT_TRUE(back.target.is_unix());
  EXPECT_EQ(back.target.unix_path(), "/tmp/muxbench-wire-test.sock");
}

TEST(LoadWire, ResultJsonNamesEachFieldAsTheStructDoes) {
  LoadResult r;
  r.requests = 3;
  r.errors.timeout = 2;
  r.timeline.resize(1);
  r.timeline[0].requests = 3;
  r.thread_cpu_ns = {100};
  const nlohmann::json j = r;
  EXPECT_EQ(j.at("requests"), 3);
  EXPECT_EQ(j.at("errors"), nlohmann::json::parse(R"({"connect": 0, "reset": 0, "mismatch": 0, "timeout": 2})"));
  EXPECT_EQ(j.at("timeline").at(0).at("requests"), 3);
  EXPECT_EQ(j.at("timeline").at(0).at("latency").at("sub_bucket_bits"), 6);
  EXPECT_EQ(j.at("thread_cpu_ns"), nlohmann::json::parse("[100]"));
  EXPECT_EQ(j.at("latency").at("counts"), nlohmann::json::array());
  EXPECT_EQ(j.size(), 14u) << "a key per LoadResult field: " << j.dump();
}

// Merging, field by field: counts add, histograms merge (as if one had recorded both), the
// timeline and the work classes line up index by index, the threads of both are listed.
TEST(LoadWire, MergeTakesEveryFieldInItsWay) {
  LoadResult a, b;
  a.latency.record(1'000);
  b.latency.record(2'000);
  b.latency.record(3'000);
  a.latency_uncorrected.record(5);
  b.connect_latency.record(7);
  a.requests = 10, b.requests = 20;
  a.bytes_verified = 100, b.bytes_verified = 200;
  a.errors = {.connect = 1, .reset = 2, .mismatch = 3, .timeout = 4};
  b.errors = {.connect = 10, .reset = 20, .mismatch = 30, .timeout = 40};
  a.reconnects = 1, b.reconnects = 2;
  a.churn_connects = 3, b.churn_connects = 4;
  a.completed_total = 5, b.completed_total = 6;
  a.sent_total = 7, b.sent_total = 8;
  a.timeline.resize(1);
  a.timeline[0].requests = 4;
  b.timeline.resize(3);
  b.timeline[0].requests = 5;
  b.timeline[0].errors = 1;
  b.timeline[2].requests = 6;
  b.timeline[2].latency.record(9'000);
  b.latency_by_work_class.resize(2);
  b.latency_by_work_class[1].record(4'000);
  a.thread_cpu_ns = {1, 2};
  b.thread_cpu_ns = {3};
  a.thread_waiting_ns = {4};
  b.thread_waiting_ns = {5, 6};

  a.merge(b);
  EXPECT_EQ(a.latency.count(), 3u);
  EXPECT_EQ(a.latency.min(), 1'000u);
  EXPECT_EQ(a.latency.max(), 3'000u);
  EXPECT_EQ(a.latency.sum(), 6'000u);
  EXPECT_EQ(a.latency_uncorrected.count(), 1u);
  EXPECT_EQ(a.connect_latency.count(), 1u);
  EXPECT_EQ(a.requests, 30u);
  EXPECT_EQ(a.bytes_verified, 300u);
  EXPECT_EQ(std::vector({a.errors.connect, a.errors.reset, a.errors.mismatch, a.errors.timeout}),
            (std::vector<std::uint64_t>{11, 22, 33, 44}));
  EXPECT_EQ(a.reconnects, 3u);
  EXPECT_EQ(a.churn_connects, 7u);
  EXPECT_EQ(a.completed_total, 11u);
  EXPECT_EQ(a.sent_total, 15u);
  ASSERT_EQ(a.timeline.size(), 3u);
  EXPECT_EQ(a.timeline[0].requests, 9u);
  EXPECT_EQ(a.timeline[0].errors, 1u);
  EXPECT_EQ(a.timeline[1].requests, 0u);
  EXPECT_EQ(a.timeline[2].requests, 6u);
  EXPECT_EQ(a.timeline[2].latency.count(), 1u);
  ASSERT_EQ(a.latency_by_work_class.size(), 2u);
  EXPECT_EQ(a.latency_by_work_class[0].count(), 0u);
  EXPECT_EQ(a.latency_by_work_class[1].count(), 1u);
  EXPECT_EQ(a.thread_cpu_ns, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(a.thread_waiting_ns, (std::vector<std::uint64_t>{4, 5, 6}));
}

// The result JSON's config records the load under the names results/README.md gives them.
TEST(LoadWire, ResultEchoUsesTheResultNames) {
  LoadConfig c;
  c.clients = 3;
  c.idle = 2;
  c.threads = 4;
  c.cpus = {1};
  c.expected_body = std::string("ok");
  c.io = LoadConfig::Io::epoll;
  c.io_fallback = "why";
  const nlohmann::json echo = result_echo(c);
  EXPECT_EQ(echo, nlohmann::json::parse(R"({"protocol": "echo", "clients": 3, "message_size_spec": "128",
      "expect_body": "ok", "pipeline": 1, "seed": 1, "idle_connections": 2, "churn": 0, "duration_s": 10.0,
      "warmup_s": 2.0, "timeout_s": 5.0, "client_cpus": [1], "loadgen_threads": 4,
      "loadgen_io": "epoll", "loadgen_io_fallback": "why"})"));
}

}  // namespace
}  // namespace mux
