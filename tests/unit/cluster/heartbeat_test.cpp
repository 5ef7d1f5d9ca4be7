// A heartbeat read back as written, and another process's malformed text read without harm.

#include "cluster/heartbeat.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace drawbridge::cluster;

TEST(heartbeat, reads_back_as_it_was_written) {
  heartbeat h;
  h.replica = "r1";
  h.pid = 4242;
  h.version = "1.2.3";
  h.at_ms = 1'700'000'000'000;
  h.ttl_ms = 1600;
  h.in_flight = 3;
  auto& u = h.upstreams["app"];
  u.applied_epoch = "e1";
  u.applied_version = 7;
  u.nodes["node1"] = {"active", "ready", "healthy", true, 3};
  u.nodes["node2"] = {"ejected", "ready", "healthy", false, std::nullopt};
  const auto back = parse_heartbeat(heartbeat_json(h).dump());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->replica, "r1");
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->version, "1.2.3");
  EXPECT_EQ(back->at_ms, 1'700'000'000'000);
  EXPECT_EQ(back->ttl_ms, 1600);
  EXPECT_EQ(back->in_flight, 3);
  const auto* app = back->upstream("app");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->applied_epoch, "e1");
  EXPECT_EQ(app->applied_version, 7u);
  const auto* n1 = back->node("app", "node1");
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->state, "active");
  EXPECT_EQ(n1->admin, "ready");
  EXPECT_EQ(n1->health, "healthy");
  EXPECT_TRUE(n1->eligible);
  EXPECT_EQ(n1->in_flight, 3);
  const auto* n2 = back->node("app", "node2");
  ASSERT_NE(n2, nullptr);
  EXPECT_EQ(n2->state, "ejected");
  EXPECT_FALSE(n2->eligible);
  EXPECT_FALSE(n2->in_flight);  // not reported: unknown, not 0
  EXPECT_EQ(back->node("app", "node3"), nullptr);
  EXPECT_EQ(back->node("other", "node1"), nullptr);
}

TEST(heartbeat, text_that_is_not_an_object_is_no_heartbeat) {
  EXPECT_FALSE(parse_heartbeat(""));
  EXPECT_FALSE(parse_heartbeat("{"));
  EXPECT_FALSE(parse_heartbeat("[1,2]"));
  EXPECT_FALSE(parse_heartbeat("\"r1\""));
}

TEST(heartbeat, fields_of_the_wrong_type_keep_their_defaults_and_odd_entries_are_left_out) {
  const auto h = parse_heartbeat(R"({"replica":7,"pid":"12","in_flight":-1.5,
    "applied":{"app":{"epoch":3,"version":-2},"gone":{"epoch":"e","version":1}},
    "upstreams":{"app":{"node1":{"health":"healthy","eligible":1,"in_flight":"9"},"node2":5},
                 "bad":[1]}})");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->replica, "");
  EXPECT_EQ(h->pid, 0);
  EXPECT_EQ(h->in_flight, 0);
  ASSERT_NE(h->upstream("app"), nullptr);
  EXPECT_EQ(h->upstream("app")->applied_epoch, "");
  EXPECT_EQ(h->upstream("app")->applied_version, 0u);
  EXPECT_EQ(h->upstream("gone"), nullptr);  // an applied version for an upstream without nodes says nothing
  EXPECT_EQ(h->upstream("bad"), nullptr);
  const auto* n1 = h->node("app", "node1");
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->health, "healthy");
  EXPECT_FALSE(n1->eligible);   // 1 is not a boolean
  EXPECT_FALSE(n1->in_flight);  // "9" is not a number
  EXPECT_EQ(h->node("app", "node2"), nullptr);
}
