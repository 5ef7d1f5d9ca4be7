#include "tests/support/metrics_scrape.hpp"

#include <sstream>
#include <string>

#include "tests/support/test_client.hpp"

namespace drawbridge::testing {

std::optional<double> scraped_sum(std::uint16_t admin_port, std::string_view family) {
  test_client admin(admin_port);
  const auto res = admin.get("/metrics");
  if (res.status != 200) return std::nullopt;
  std::optional<double> sum;
  std::istringstream lines(res.body);
  for (std::string line; std::getline(lines, line);) {
    // "family{labels} value" or "family value"; not family_total, family_bucket...
    if (!line.starts_with(family) || line.size() <= family.size()) continue;
    const char next = line[family.size()];
    if (next != '{' && next != ' ') continue;
    sum = sum.value_or(0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace drawbridge::testing
