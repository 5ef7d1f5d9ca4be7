#include "upstream/health_rules.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace drawbridge::upstream {

namespace {

// The value at `pointer` (a valid JSON pointer) of a JSON body; nullopt, with `why` set, when the body is
// not JSON or has nothing there.
std::optional<nlohmann::json> json_at(std::string_view body, const std::string& pointer, std::string& why) {
  auto document = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    why = "body is not JSON";
    return std::nullopt;
  }
  // An array index too large for size_t ("/data/99999999999999999999") throws out of contains().
  try {
    const nlohmann::json::json_pointer at(pointer);
    if (document.contains(at)) return std::move(document.at(at));
  } catch (const nlohmann::json::exception&) {
  }
  why = "no value at " + pointer;
  return std::nullopt;
}

}  // namespace

std::string judge_probe_answer(const conf::health_check_config& config, unsigned status, std::string_view body) {
  const auto& expected = config.expect_status;
  if (std::find(expected.begin(), expected.end(), status) == expected.end()) return "status " + std::to_string(status);
  if (!config.json_pointer) return {};
  // A starting Appsmith node answers with a plain-text page: not JSON, so not healthy.
  std::string why;
  const auto value = json_at(body, *config.json_pointer, why);
  if (!value) return why;
  // ASCII only (non-ASCII escaped), so that cutting it short below cannot split a character.
  const std::string actual = value->dump(-1, ' ', /*ensure_ascii=*/true);
  if (actual != config.json_equals) {
    std::string shown = actual.size() > 60 ? actual.substr(0, 57) + "..." : actual;
    return *config.json_pointer + " is " + shown + ", expected " + config.json_equals;
  }
  return {};
}

std::string version_in_answer(unsigned status, std::string_view body, const std::string& pointer, std::string& why) {
  if (status != 200) {
    why = "status " + std::to_string(status);
    return {};
  }
  const auto value = json_at(body, pointer, why);
  if (!value) return {};
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number()) return value->dump();
  why = pointer + " is not a string";
  return {};
}

void health_counter::reset(std::int64_t grace_until_ms, bool first_probe_decides) {
  passes_ = 0;
  failures_ = 0;
  grace_until_ms_ = grace_until_ms;
  first_probe_decides_ = first_probe_decides;
}

health_state health_counter::record(bool passed, health_state current, std::int64_t now_ms,
                                    const conf::health_check_config& config) {
  if (passed) {
    failures_ = 0;
    ++passes_;
    if (current != health_state::healthy && (first_probe_decides_ || passes_ >= config.healthy_threshold)) {
      first_probe_decides_ = false;
      return health_state::healthy;
    }
    return current;
  }
  passes_ = 0;
  if (now_ms < grace_until_ms_) return current;  // start period: a booting node is not held against it
  ++failures_;
  if (current != health_state::unhealthy && (first_probe_decides_ || failures_ >= config.unhealthy_threshold)) {
    first_probe_decides_ = false;
    return health_state::unhealthy;
  }
  return current;
}

}  // namespace drawbridge::upstream
