#pragma once
// The standard process series (process_cpu_seconds_total and friends), read from /proc/self.

#include <cstdint>

namespace drawbridge::metrics {

struct process_stats {
  double cpu_seconds = 0;  // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  bool ok = false;                // /proc could be read
};

process_stats read_process_stats();

}  // namespace drawbridge::metrics
