#include <gtest/gtest.h>

#include "admin/acme_manager.hpp"

using drawbridge::admin::acme_manager;
using std::chrono::seconds;

// A CA that cannot be reached: tried again soon, doubling, at most every five minutes.
TEST(acme_backoff, an_unreachable_ca_is_retried_within_seconds_doubling_up_to_five_minutes) {
  EXPECT_EQ(acme_manager::unreachable_backoff(1), seconds(2));
  EXPECT_EQ(acme_manager::unreachable_backoff(2), seconds(4));
  EXPECT_EQ(acme_manager::unreachable_backoff(5), seconds(32));
  EXPECT_EQ(acme_manager::unreachable_backoff(9), seconds(300));
  EXPECT_EQ(acme_manager::unreachable_backoff(1000), seconds(300));
}

// Once the CA refused, or an order placed failed: never sooner than an hour, doubling up to a day.
TEST(acme_backoff, a_refusal_waits_an_hour_at_least_doubling_up_to_a_day) {
  EXPECT_EQ(acme_manager::refused_backoff(1), seconds(3600));
  EXPECT_EQ(acme_manager::refused_backoff(2), seconds(7200));
  EXPECT_EQ(acme_manager::refused_backoff(5), seconds(16 * 3600));
  EXPECT_EQ(acme_manager::refused_backoff(6), seconds(24 * 3600));
  EXPECT_EQ(acme_manager::refused_backoff(1000), seconds(24 * 3600));
}
