// The whole retry table (proxy/retry_decision.hpp): every failure kind against every combination of the
// facts that matter, compared with the policy written out case by case.

#include "proxy/retry_decision.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::proxy;

namespace {

// The policy as DESIGN.md states it, one rule per line, for the exhaustive comparison below.
retry_action expected(const retry_facts& f) {
  const bool replayable = f.idempotent && !f.has_body;
  if (f.failure == error_kind::connect_failed) return retry_action::next_node;
  if (f.failure == error_kind::no_response) {
    if (f.pooled_connection && !f.fresh_connection_tried && !f.has_body && (f.idempotent || !f.request_written))
      return retry_action::same_node_fresh_connection;
    return replayable ? retry_action::next_node : retry_action::give_up;
  }
  if (f.failure == error_kind::gateway_error && replayable && f.another_node_eligible) return retry_action::next_node;
  if (f.failure == error_kind::stale_asset && replayable && f.another_node_eligible) return retry_action::next_node;
  return retry_action::give_up;
}

}  // namespace

TEST(retry_decision, a_failed_connect_moves_on_whatever_the_request) {
  EXPECT_EQ(decide_retry({.failure = error_kind::connect_failed}), retry_action::next_node);
  EXPECT_EQ(decide_retry({.failure = error_kind::connect_failed, .idempotent = false, .has_body = true}),
            retry_action::next_node);
}

TEST(retry_decision, a_dead_pooled_connection_gets_one_fresh_try_on_the_same_node) {
  const retry_facts get{.failure = error_kind::no_response, .idempotent = true, .pooled_connection = true};
  EXPECT_EQ(decide_retry(get), retry_action::same_node_fresh_connection);
  auto again = get;
  again.fresh_connection_tried = true;
  EXPECT_EQ(decide_retry(again), retry_action::next_node);  // once only, then another node
}

TEST(retry_decision, a_bodyless_post_that_never_got_written_is_sent_again_on_a_fresh_connection) {
  EXPECT_EQ(decide_retry({.failure = error_kind::no_response,
                          .idempotent = false,
                          .request_written = false,
                          .pooled_connection = true}),
            retry_action::same_node_fresh_connection);
  // Written: the node may have acted on it.
  EXPECT_EQ(decide_retry({.failure = error_kind::no_response, .idempotent = false, .pooled_connection = true}),
            retry_action::give_up);
}

TEST(retry_decision, a_post_whose_bytes_reached_a_node_is_never_replayed) {
  for (const bool pooled : {false, true})
    EXPECT_EQ(decide_retry({.failure = error_kind::no_response,
                            .idempotent = false,
                            .has_body = true,
                            .pooled_connection = pooled,
                            .another_node_eligible = true}),
              retry_action::give_up);
}

TEST(retry_decision, a_gateway_answer_moves_on_only_while_another_node_is_eligible) {
  retry_facts f{.failure = error_kind::gateway_error, .idempotent = true, .another_node_eligible = true};
  EXPECT_EQ(decide_retry(f), retry_action::next_node);
  f.another_node_eligible = false;
  EXPECT_EQ(decide_retry(f), retry_action::give_up);  // the node's answer is relayed
  f = {.failure = error_kind::gateway_error, .idempotent = true, .has_body = true, .another_node_eligible = true};
  EXPECT_EQ(decide_retry(f), retry_action::give_up);
}

TEST(retry_decision, timeouts_and_garbage_are_not_replayed) {
  for (const auto kind : {error_kind::response_timeout, error_kind::send_timeout, error_kind::invalid_response,
                          error_kind::protocol_switch, error_kind::body_failed, error_kind::client_gone})
    EXPECT_EQ(
        decide_retry({.failure = kind, .idempotent = true, .pooled_connection = true, .another_node_eligible = true}),
        retry_action::give_up)
        << static_cast<int>(kind);
}

TEST(retry_decision, the_whole_table_matches_the_policy) {
  for (std::size_t k = 0; k < static_cast<std::size_t>(error_kind::count); ++k)
    for (unsigned bits = 0; bits < 64; ++bits) {
      const retry_facts f{.failure = static_cast<error_kind>(k),
                          .idempotent = (bits & 1) != 0,
                          .has_body = (bits & 2) != 0,
                          .request_written = (bits & 4) != 0,
                          .pooled_connection = (bits & 8) != 0,
                          .fresh_connection_tried = (bits & 16) != 0,
                          .another_node_eligible = (bits & 32) != 0};
      EXPECT_EQ(decide_retry(f), expected(f)) << "kind " << k << " facts " << bits;
    }
}

TEST(retry_decision, a_stale_static_file_moves_on_to_a_node_of_the_named_version_only_when_one_is_left) {
  retry_facts f{.failure = error_kind::stale_asset, .idempotent = true, .another_node_eligible = true};
  EXPECT_EQ(decide_retry(f), retry_action::next_node);
  f.another_node_eligible = false;
  EXPECT_EQ(decide_retry(f), retry_action::give_up);
}
