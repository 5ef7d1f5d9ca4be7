// The exposition: prometheus-cpp families built from our totals, serialised by its TextSerializer.

#include "metrics/exposition.hpp"

#include <gtest/gtest.h>

#include "metrics/family.hpp"

using namespace drawbridge;
using prometheus::MetricType;

namespace {

// A collector that returns the families it was given.
class fixed_collector final : public prometheus::Collectable {
 public:
  explicit fixed_collector(std::vector<prometheus::MetricFamily> families) : families_(std::move(families)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return families_; }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

prometheus::MetricFamily one_sample(std::string_view upstream, double value) {
  auto f = metrics::family("t_requests_total", MetricType::Counter, "Requests.");
  metrics::add_sample(f, {{"upstream", upstream}}, value);
  return f;
}

}  // namespace

TEST(exposition, families_of_one_name_from_two_collectors_are_declared_once_in_collector_order) {
  auto gauge = metrics::family("t_open", MetricType::Gauge, "Open now.");
  metrics::add_sample(gauge, {}, -2);
  const metrics::collector_list collectors = {
      std::make_shared<fixed_collector>(std::vector{one_sample("", 1)}),
      std::make_shared<fixed_collector>(std::vector{gauge, one_sample("app", 12345678901)}),
  };
  EXPECT_EQ(metrics::expose(collectors),
            "# HELP t_requests_total Requests.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{upstream=\"\"} 1\n"
            "t_requests_total{upstream=\"app\"} 12345678901\n"
            "# HELP t_open Open now.\n"
            "# TYPE t_open gauge\n"
            "t_open -2\n");
}

TEST(exposition, a_family_without_series_keeps_its_help_and_type) {
  const metrics::collector_list collectors = {std::make_shared<fixed_collector>(
      std::vector{metrics::family("t_handshakes_total", MetricType::Counter, "Handshakes.")})};
  EXPECT_EQ(metrics::expose(collectors), "# HELP t_handshakes_total Handshakes.\n# TYPE t_handshakes_total counter\n");
}

TEST(exposition, a_histogram_has_cumulative_buckets_ending_in_inf_its_count_and_its_sum_in_seconds) {
  metrics::histogram h;
  h.observe_ms(0.5);     // le 0.001
  h.observe_ms(3);       // le 0.005
  h.observe_ms(500000);  // above 300 s: +Inf only
  metrics::histogram_totals totals;
  totals.add(h);
  totals.add(h);  // a second worker with the same counts
  auto f = metrics::family("t_seconds", MetricType::Histogram, "Durations.");
  metrics::add_histogram(f, {{"upstream", "app"}}, totals);
  const auto text = metrics::expose({std::make_shared<fixed_collector>(std::vector{f})});
  for (const char* line : {
           "t_seconds_bucket{upstream=\"app\",le=\"0.001\"} 2\n",
           "t_seconds_bucket{upstream=\"app\",le=\"0.0025\"} 2\n",
           "t_seconds_bucket{upstream=\"app\",le=\"0.005\"} 4\n",
           "t_seconds_bucket{upstream=\"app\",le=\"300\"} 4\n",
           "t_seconds_bucket{upstream=\"app\",le=\"+Inf\"} 6\n",
           "t_seconds_count{upstream=\"app\"} 6\n",
           "t_seconds_sum{upstream=\"app\"} 1000.007\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line << "in:\n" << text;
  // One +Inf bucket (ours), none added by the serializer: 17 bounds and +Inf.
  std::size_t buckets = 0;
  for (auto at = text.find("t_seconds_bucket"); at != std::string::npos; at = text.find("t_seconds_bucket", at + 1))
    ++buckets;
  EXPECT_EQ(buckets, metrics::duration_bounds.size() + 1);
}

TEST(exposition, status_codes_seen_become_code_labels_and_unseen_ones_are_left_out) {
  metrics::code_counts counts;
  counts[metrics::code_slot(0)].add(1);
  counts[metrics::code_slot(503)].add(2);
  counts[metrics::code_slot(799)].add(3);
  metrics::code_totals totals{};
  metrics::add_codes(totals, counts);
  auto f = metrics::family("t_requests_total", MetricType::Counter, "Requests.");
  metrics::add_code_samples(f, {{"upstream", "app"}, {"node", ""}}, totals);
  EXPECT_EQ(metrics::expose({std::make_shared<fixed_collector>(std::vector{f})}),
            "# HELP t_requests_total Requests.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{upstream=\"app\",node=\"\",code=\"0\"} 1\n"
            "t_requests_total{upstream=\"app\",node=\"\",code=\"503\"} 2\n"
            "t_requests_total{upstream=\"app\",node=\"\",code=\"other\"} 3\n");
}
