#include "metrics/process_collector.hpp"

#include "metrics/family.hpp"
#include "metrics/process_stats.hpp"

namespace drawbridge::metrics {

using prometheus::MetricType;

std::vector<prometheus::MetricFamily> process_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(7);
  auto& build = out.emplace_back(family("drawbridge_build_info", MetricType::Gauge, "drawbridge's version; always 1."));
  add_sample(build, {{"version", DRAWBRIDGE_VERSION}}, 1);

  const auto p = read_process_stats();
  if (!p.ok) return out;
  auto one = [&](std::string_view name, MetricType type, std::string_view help, double value) {
    add_sample(out.emplace_back(family(name, type, help)), {}, value);
  };
  one("process_cpu_seconds_total", MetricType::Counter, "User and system CPU time spent, in seconds.", p.cpu_seconds);
  one("process_resident_memory_bytes", MetricType::Gauge, "Resident memory size in bytes.",
      static_cast<double>(p.resident_bytes));
  one("process_virtual_memory_bytes", MetricType::Gauge, "Virtual memory size in bytes.",
      static_cast<double>(p.virtual_bytes));
  one("process_open_fds", MetricType::Gauge, "Open file descriptors.", static_cast<double>(p.open_fds));
  one("process_max_fds", MetricType::Gauge, "The limit on open file descriptors.", static_cast<double>(p.max_fds));
  one("process_start_time_seconds", MetricType::Gauge, "When the process started, in seconds since the Unix epoch.",
      p.start_time_seconds);
  return out;
}

}  // namespace drawbridge::metrics
