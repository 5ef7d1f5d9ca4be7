#include "upstream/health_rules.hpp"

#include <gtest/gtest.h>

using namespace drawbridge;
using namespace drawbridge::upstream;

namespace {

conf::health_check_config appsmith_check() {
  conf::health_check_config c;
  c.enabled = true;
  c.healthy_threshold = 2;
  c.unhealthy_threshold = 3;
  c.json_pointer = "/responseMeta/success";
  c.json_equals = "true";
  return c;
}

}  // namespace

TEST(probe_answer, an_appsmith_health_answer_passes) {
  EXPECT_EQ(judge_probe_answer(appsmith_check(), 200, R"({"responseMeta":{"status":200,"success":true},"data":"ok"})"),
            "");
}

TEST(probe_answer, a_starting_appsmith_node_fails_on_its_status) {
  EXPECT_EQ(judge_probe_answer(appsmith_check(), 502, "Appsmith is starting"), "status 502");
}

TEST(probe_answer, a_body_that_is_not_json_fails_the_json_check) {
  EXPECT_EQ(judge_probe_answer(appsmith_check(), 200, "OK"), "body is not JSON");
}

TEST(probe_answer, the_value_at_the_pointer_must_equal_the_expected_one) {
  EXPECT_EQ(judge_probe_answer(appsmith_check(), 200, R"({"responseMeta":{"success":false}})"),
            "/responseMeta/success is false, expected true");
  EXPECT_EQ(judge_probe_answer(appsmith_check(), 200, R"({"responseMeta":{}})"), "no value at /responseMeta/success");
  EXPECT_EQ(judge_probe_answer(appsmith_check(), 200, R"({"responseMeta":{"success":"true"}})"),
            R"(/responseMeta/success is "true", expected true)");
}

TEST(probe_answer, without_a_json_check_any_expected_status_passes) {
  conf::health_check_config c;
  c.expect_status = {200, 204};
  EXPECT_EQ(judge_probe_answer(c, 204, ""), "");
  EXPECT_EQ(judge_probe_answer(c, 200, "not json"), "");
  EXPECT_EQ(judge_probe_answer(c, 301, ""), "status 301");
}

TEST(health_counter, at_start_up_the_first_probe_decides) {
  const auto c = appsmith_check();
  health_counter pass_first;
  pass_first.reset(0, true);
  EXPECT_EQ(pass_first.record(true, health_state::unknown, 0, c), health_state::healthy);
  health_counter fail_first;
  fail_first.reset(0, true);
  EXPECT_EQ(fail_first.record(false, health_state::unknown, 0, c), health_state::unhealthy);
}

TEST(health_counter, after_a_reset_healthy_threshold_passes_in_a_row_are_needed) {
  const auto c = appsmith_check();
  health_counter h;
  h.reset(0, false);
  auto s = h.record(true, health_state::unknown, 0, c);
  EXPECT_EQ(s, health_state::unknown);
  s = h.record(false, s, 0, c);  // breaks the run
  s = h.record(true, s, 0, c);
  EXPECT_EQ(s, health_state::unknown);
  s = h.record(true, s, 0, c);
  EXPECT_EQ(s, health_state::healthy);
}

TEST(health_counter, unhealthy_threshold_failures_in_a_row_make_a_healthy_node_unhealthy) {
  const auto c = appsmith_check();
  health_counter h;
  h.reset(0, false);
  auto s = health_state::healthy;
  s = h.record(false, s, 0, c);
  s = h.record(false, s, 0, c);
  EXPECT_EQ(s, health_state::healthy);
  s = h.record(true, s, 0, c);  // one pass resets the failure run
  s = h.record(false, s, 0, c);
  s = h.record(false, s, 0, c);
  EXPECT_EQ(s, health_state::healthy);
  s = h.record(false, s, 0, c);
  EXPECT_EQ(s, health_state::unhealthy);
}

TEST(health_counter, failures_in_the_start_period_do_not_count) {
  const auto c = appsmith_check();
  health_counter h;
  h.reset(/*grace_until_ms=*/60'000, false);
  auto s = health_state::unknown;
  for (int i = 0; i < 10; ++i) s = h.record(false, s, 1000 + i, c);
  EXPECT_EQ(s, health_state::unknown);
  EXPECT_EQ(h.failures(), 0u);
  // Once the period is over, they do.
  for (int i = 0; i < 3; ++i) s = h.record(false, s, 60'000 + i, c);
  EXPECT_EQ(s, health_state::unhealthy);
}

TEST(health_rules, the_version_is_read_at_the_pointer_of_a_200_json_answer) {
  std::string why;
  EXPECT_EQ(version_in_answer(200, R"({"version":"v1.52","commitSha":"abc"})", "/version", why), "v1.52");
  EXPECT_EQ(version_in_answer(200, R"({"build":{"number":1052}})", "/build/number", why), "1052");
  EXPECT_TRUE(why.empty()) << why;
  EXPECT_EQ(version_in_answer(502, "502 Bad Gateway", "/version", why), "");
  EXPECT_EQ(why, "status 502");
  EXPECT_EQ(version_in_answer(200, "<html>", "/version", why), "");
  EXPECT_EQ(why, "body is not JSON");
  EXPECT_EQ(version_in_answer(200, R"({"commitSha":"abc"})", "/version", why), "");
  EXPECT_EQ(why, "no value at /version");
  EXPECT_EQ(version_in_answer(200, R"({"version":{"major":1}})", "/version", why), "");
  EXPECT_EQ(why, "/version is not a string");
}
