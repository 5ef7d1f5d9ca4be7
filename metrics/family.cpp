#include "metrics/family.hpp"

#include <limits>
#include <string>

namespace drawbridge::metrics {

namespace {

prometheus::ClientMetric metric_with(std::initializer_list<label> labels) {
  prometheus::ClientMetric m;
  m.label.reserve(labels.size());
  for (const auto& [name, value] : labels) m.label.push_back({std::string(name), std::string(value)});
  return m;
}

}  // namespace

prometheus::MetricFamily family(std::string_view name, prometheus::MetricType type, std::string_view help) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

prometheus::MetricFamily requests_family() {
  return family("drawbridge_requests_total", prometheus::MetricType::Counter,
                "Requests answered, by upstream, node and status code (0: the client went away first). Requests "
                "refused before routing have an empty upstream; routed ones no node took have an empty node.");
}

void add_sample(prometheus::MetricFamily& f, std::initializer_list<label> labels, double value) {
  auto m = metric_with(labels);
  switch (f.type) {
    case prometheus::MetricType::Counter:
      m.counter.value = value;
      break;
    case prometheus::MetricType::Gauge:
      m.gauge.value = value;
      break;
    default:
      m.untyped.value = value;
      break;
  }
  f.metric.push_back(std::move(m));
}

void add_histogram(prometheus::MetricFamily& f, std::initializer_list<label> labels, const histogram_totals& h) {
  auto m = metric_with(labels);
  auto& out = m.histogram;
  out.bucket.reserve(h.buckets.size());
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    // The last bucket counts what lies above every bound: it is +Inf's, written out so that the family
    // does not depend on the serializer adding it.
    const double bound = i < duration_bounds.size() ? duration_bounds[i] : std::numeric_limits<double>::infinity();
    out.bucket.push_back({.cumulative_count = cumulative, .upper_bound = bound});
  }
  out.sample_count = cumulative;
  out.sample_sum = static_cast<double>(h.sum_us) / 1e6;
  f.metric.push_back(std::move(m));
}

void add_code_samples(prometheus::MetricFamily& f, std::initializer_list<label> labels, const code_totals& codes) {
  for (std::size_t slot = 0; slot < code_slots; ++slot) {
    if (codes[slot] == 0) continue;
    const std::string code = slot == other_code_slot ? std::string("other") : std::to_string(slot_code(slot));
    auto m = metric_with(labels);
    m.label.push_back({"code", code});
    m.counter.value = static_cast<double>(codes[slot]);
    f.metric.push_back(std::move(m));
  }
}

}  // namespace drawbridge::metrics
