#include "core/median_interval.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mux {

double order_statistic_coverage(std::size_t n, std::size_t k) {
  // P(Binomial(n, 1/2) <= k-1), each term C(n, i) / 2^n in logs so large n cannot overflow.
  const double dn = static_cast<double>(n);
  double tail = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const double di = static_cast<double>(i);
    tail += std::exp(std::lgamma(dn + 1) - std::lgamma(di + 1) - std::lgamma(dn - di + 1) - dn * std::log(2.0));
  }
  return std::max(0.0, 1.0 - 2.0 * tail);
}

MedianInterval median_interval(std::vector<double> values, double confidence) {
  if (values.empty()) throw std::invalid_argument("median_interval of no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  std::size_t k = 1;
  while (k + 1 <= (n + 1) / 2 && order_statistic_coverage(n, k + 1) >= confidence) ++k;
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values[k - 1], values[n - k], order_statistic_coverage(n, k), n};
}

}  // namespace mux
