// core/distribution: the forms, their quantiles and means worked out by hand, and the draws.
#include "core/distribution.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <stdexcept>

#include "core/request_pattern.hpp"

namespace mux {
namespace {

TEST(Distribution, ParsesEachFormAndWritesItBack) {
  for (const char* spec : {"128", "0", "2.5", "uniform:64-4096", "exp:100", "exp:0.5", "bimodal:0.9:0:2000",
                           "bimodal:1:5:7", "bimodal:0:5:7"}) {
    SCOPED_TRACE(spec);
    const Distribution d = Distribution::parse(spec);
    EXPECT_EQ(d.to_string(), spec);
    EXPECT_EQ(Distribution::parse(d.to_string()), d);
  }
  EXPECT_TRUE(Distribution::parse("128").is_fixed());
  EXPECT_EQ(Distribution::parse("128"), Distribution(128));  // a plain number is the fixed distribution
  EXPECT_EQ(Distribution::parse("exp:3").kind(), Distribution::Kind::exponential);
}

TEST(Distribution, MalformedSpecsNameTheProblemAndTheForms) {
  for (const char* spec : {"uniform:5", "uniform:9-3", "uniform:a-3", "exp:-1", "exp:0", "exp:", "bimodal:2:1:3",
                           "bimodal:0.5:1", "bimodal:0.5:1:2:3", "foo:1", "", "-4", "nan", "inf", "12abc",
                           "uniform:1-inf"}) {
    SCOPED_TRACE(spec);
    try {
      Distribution::parse(spec);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(kDistributionForms), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(Distribution, FixedIsItsValueEverywhere) {
  const Distribution d(42);
  for (const double u : {0.0, 0.3, 0.999}) EXPECT_EQ(d.quantile(u), 42);
  EXPECT_EQ(d.mean(), 42);
  EXPECT_EQ(d.median(), 42);
  EXPECT_EQ(d.min(), 42);
  EXPECT_EQ(d.max(), 42);
}

TEST(Distribution, UniformQuantilesAreLinearBetweenTheBounds) {
  const Distribution d = Distribution::parse("uniform:100-300");
  EXPECT_EQ(d.quantile(0.0), 100);
  EXPECT_EQ(d.quantile(0.25), 150);  // 100 + 0.25 * 200
  EXPECT_EQ(d.quantile(0.5), 200);
  EXPECT_EQ(d.quantile(0.75), 250);
  EXPECT_EQ(d.mean(), 200);
  EXPECT_EQ(d.median(), 200);
  EXPECT_EQ(d.min(), 100);
  EXPECT_NEAR(d.max(), 300, 1e-9);
}

TEST(Distribution, ExponentialQuantilesAndMean) {
  const Distribution d = Distribution::parse("exp:100");
  EXPECT_EQ(d.quantile(0.0), 0);
  EXPECT_NEAR(d.median(), 100 * std::log(2.0), 1e-9);           // 69.31...
  EXPECT_NEAR(d.quantile(0.99), 100 * std::log(100.0), 1e-9);    // -100 ln(0.01) = 460.5...
  EXPECT_NEAR(d.max(), 100 * 53 * std::log(2.0), 1e-6);          // u <= 1 - 2^-53
  EXPECT_EQ(d.mean(), 100);
  // The mean of 10^6 seeded draws: the standard error is 100 / sqrt(10^6) = 0.1, so 1 (ten
  // standard errors) fails only if the draws are not exponential with mean 100.
  double sum = 0;
  constexpr int kDraws = 1'000'000;
  for (int i = 0; i < kDraws; ++i) sum += d.quantile(draw_unit(7, static_cast<std::uint64_t>(i % 1000), static_cast<std::uint64_t>(i / 1000)));
  EXPECT_NEAR(sum / kDraws, 100, 1.0);
}

TEST(Distribution, BimodalTakesAForAFractionPOfTheDraws) {
  const Distribution d = Distribution::parse("bimodal:0.9:0:2000");
  EXPECT_EQ(d.quantile(0.0), 0);
  EXPECT_EQ(d.quantile(0.8999), 0);
  EXPECT_EQ(d.quantile(0.9), 2000);
  EXPECT_NEAR(d.mean(), 200, 1e-9);  // 0.9 * 0 + 0.1 * 2000
  EXPECT_EQ(d.median(), 0);
  EXPECT_EQ(d.min(), 0);
  EXPECT_EQ(d.max(), 2000);
  // 10^5 draws: the fraction's standard error is sqrt(0.09 / 10^5) = 0.00095; 0.005 is five.
  int a = 0;
  constexpr int kDraws = 100'000;
  for (int i = 0; i < kDraws; ++i) a += d.quantile(draw_unit(1, static_cast<std::uint64_t>(i % 100), static_cast<std::uint64_t>(i / 100))) == 0;
  EXPECT_NEAR(static_cast<double>(a) / kDraws, 0.9, 0.005);
  // A larger A than B, and P at its ends.
  EXPECT_EQ(Distribution::parse("bimodal:0.5:9:3").min(), 3);
  EXPECT_EQ(Distribution::parse("bimodal:0.5:9:3").max(), 9);
  EXPECT_EQ(Distribution::parse("bimodal:1:9:3").max(), 9);
  EXPECT_EQ(Distribution::parse("bimodal:0:9:3").max(), 3);
}

TEST(Distribution, WithinAndWholeNumbers) {
  EXPECT_TRUE(Distribution::parse("uniform:1-1048576").within(1, 1048576));
  EXPECT_FALSE(Distribution::parse("uniform:0-10").within(1, 1048576));
  EXPECT_FALSE(Distribution::parse("bimodal:1:5:0").within(1, 100));  // a 0 written in the spec is refused
  EXPECT_TRUE(Distribution::parse("exp:1000").within(1, 1048576));    // judged by its mean; draws are clamped
  EXPECT_FALSE(Distribution::parse("exp:2000000").within(1, 1048576));
  EXPECT_TRUE(Distribution::parse("exp:2.5").whole_numbers());
  EXPECT_FALSE(Distribution::parse("uniform:1.5-3").whole_numbers());
  EXPECT_TRUE(Distribution::parse("bimodal:0.25:4:8").whole_numbers());
}

TEST(Distribution, DrawsAreRepeatableAndDependOnSeedConnectionAndSeq) {
  EXPECT_EQ(draw_unit(3, 4, 5), draw_unit(3, 4, 5));
  EXPECT_NE(draw_unit(3, 4, 5), draw_unit(4, 4, 5));
  EXPECT_NE(draw_unit(3, 4, 5), draw_unit(3, 5, 5));
  EXPECT_NE(draw_unit(3, 4, 5), draw_unit(3, 4, 6));
  std::set<double> seen;
  for (std::uint64_t s = 0; s < 10'000; ++s) {
    const double u = draw_unit(1, 0, s);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 10'000u);
  EXPECT_LT(unit_from_bits(~std::uint64_t{0}), 1.0);
}

TEST(MessageSizes, RoundedAndClampedToOneByteAndOneMiB) {
  const Distribution exp = Distribution::parse("exp:1000");
  EXPECT_EQ(message_size_at(exp, 0.0), 1u);  // exp's 0 would be an empty message
  EXPECT_EQ(largest_message_size(exp), 36737u);  // 1000 * 53 ln 2 = 36736.8, rounded
  EXPECT_EQ(largest_message_size(Distribution::parse("exp:1000000")), kMaxMessageSize);
  const Distribution uniform = Distribution::parse("uniform:10-20");
  EXPECT_EQ(message_size_at(uniform, 0.0), 10u);
  EXPECT_EQ(message_size_at(uniform, 0.5), 15u);
  EXPECT_EQ(message_size_at(uniform, 0.74), 17u);  // 17.4
  EXPECT_EQ(message_size_at(uniform, 0.76), 18u);  // 17.6
  EXPECT_EQ(largest_message_size(uniform), 20u);
  EXPECT_EQ(largest_message_size(Distribution(128)), 128u);
}

}  // namespace
}  // namespace mux
