#pragma once
// Building prometheus-cpp's families from our totals: what a collector returns from Collect(). The names,
// label names and label orders given here are what a scrape shows (the dashboard and the alerts query them).

#include <prometheus/metric_family.h>

#include <initializer_list>
#include <string_view>
#include <utility>

#include "metrics/totals.hpp"

namespace drawbridge::metrics {

using label = std::pair<std::string_view, std::string_view>;

// An empty family: a scrape shows its HELP and TYPE even while it has no series.
prometheus::MetricFamily family(std::string_view name, prometheus::MetricType type, std::string_view help);

// One series of a counter, gauge or untyped family (the value goes where the family's type reads it).
void add_sample(prometheus::MetricFamily& f, std::initializer_list<label> labels, double value);

// One series of a histogram family: cumulative bucket counts over duration_bounds, then +Inf (the count).
void add_histogram(prometheus::MetricFamily& f, std::initializer_list<label> labels, const histogram_totals& h);

// One series per status code seen (code slots that counted nothing are left out), `labels` then code="200"
// ("other" for the codes from 600 to 999).
void add_code_samples(prometheus::MetricFamily& f, std::initializer_list<label> labels, const code_totals& codes);

// drawbridge_requests_total, empty: the workers add the requests no upstream took (proxy/worker_collector),
// the upstreams theirs (upstream/upstream_collector), and the exposition merges the two. One definition, so
// that both declare the family alike.
prometheus::MetricFamily requests_family();

}  // namespace drawbridge::metrics
