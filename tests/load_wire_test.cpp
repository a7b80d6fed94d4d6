// The load's config and result survive the trip between processes unchanged: histograms
// counter by counter (so merged percentiles are exact), timelines, counters, CPU.
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

  const LoadResult back = result_from_json(nlohmann::json::parse(result_to_json(r).dump()));
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
  EXPECT_TRUE(result_from_json(result_to_json(none)).latency_by_work_class.empty());
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
  LoadResult received = result_from_json(result_to_json(a));
  received.merge(result_from_json(result_to_json(b)));
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
  const LoadConfig back = config_from_json(nlohmann::json::parse(config_to_json(c).dump()));
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
  LoadConfig none;
  none.target = SocketAddress::parse("127.0.0.1", 1);
  EXPECT_FALSE(config_from_json(config_to_json(none)).expected_body.has_value());
}

}  // namespace
}  // namespace mux
