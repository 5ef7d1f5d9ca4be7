#pragma once
// The sans-IO half of active health checks: whether one probe's answer passes, and how runs of passes and
// failures turn into a node's health. The health checker feeds them; unit tests drive them directly.

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.hpp"
#include "upstream/node.hpp"

namespace drawbridge::upstream {

// Empty when the answer passes; otherwise why not ("status 502", "body is not JSON", ...).
std::string judge_probe_answer(const conf::health_check_config& config, unsigned status, std::string_view body);

// Version affinity's learn_from: the version a node's answer holds at `pointer` (a JSON string, or a number
// as written). Empty, with `why` set, when the answer is not a 200 with one there.
std::string version_in_answer(unsigned status, std::string_view body, const std::string& pointer, std::string& why);

// Consecutive passes and failures of one node. Control thread only.
class health_counter {
 public:
  // Starts over, as after an undrain or when a node is added: `healthy_threshold` passes are needed, and
  // failures before `grace_until_ms` (the start period) do not count. With `first_probe_decides` (at
  // process start-up) the first counted probe gives the verdict either way, so that a freshly started
  // proxy does not wait several intervals before serving.
  void reset(std::int64_t grace_until_ms, bool first_probe_decides);

  // One probe's outcome; returns the node's new health.
  health_state record(bool passed, health_state current, std::int64_t now_ms, const conf::health_check_config& config);

  std::uint32_t passes() const { return passes_; }
  std::uint32_t failures() const { return failures_; }

 private:
  std::uint32_t passes_ = 0;
  std::uint32_t failures_ = 0;
  std::int64_t grace_until_ms_ = 0;
  bool first_probe_decides_ = true;
};

}  // namespace drawbridge::upstream
