// The error table (proxy/proxy_error.hpp): what each kind answers, and the strings clients, the
// dashboard and the tests already see.

#include "proxy/proxy_error.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

using namespace drawbridge::proxy;
using drawbridge::metrics::reject_reason_for;
using drawbridge::metrics::retry_reason;

TEST(proxy_error, connect_failed_and_no_node_available_are_different_503s) {
  const auto connect = make_error(error_kind::connect_failed, true);
  const auto none = make_error(error_kind::no_node_available);
  EXPECT_EQ(status_of(connect), 503u);
  EXPECT_EQ(status_of(none), 503u);
  EXPECT_STREQ(code_of(connect), "connect_failed");
  EXPECT_STREQ(code_of(none), "no_node_available");
  EXPECT_EQ(connect.where, error_where::node);
  EXPECT_TRUE(connect.retry_safe);
}

TEST(proxy_error, every_status_keeps_the_code_it_had) {
  // The JSON codes that were derived from the status before the table existed.
  const std::pair<error_kind, std::string_view> kept[] = {
      {error_kind::malformed_request, "bad_request"},
      {error_kind::malformed_body, "bad_request"},
      {error_kind::no_route, "no_route"},
      {error_kind::header_timeout, "request_timeout"},
      {error_kind::body_timeout, "request_timeout"},
      {error_kind::body_too_large, "body_too_large"},
      {error_kind::header_too_large, "header_too_large"},
      {error_kind::not_implemented, "not_implemented"},
      {error_kind::no_response, "bad_gateway"},
      {error_kind::gateway_error, "bad_gateway"},
      {error_kind::invalid_response, "bad_gateway"},
      {error_kind::protocol_switch, "bad_gateway"},
      {error_kind::body_failed, "bad_gateway"},
      {error_kind::no_node_available, "no_node_available"},
      {error_kind::nodes_at_capacity, "no_node_available"},
      {error_kind::response_timeout, "gateway_timeout"},
      {error_kind::send_timeout, "gateway_timeout"},
      {error_kind::body_stalled, "gateway_timeout"},
      {error_kind::version_not_supported, "http_version_not_supported"},
  };
  for (const auto& [kind, code] : kept) EXPECT_EQ(code_of(make_error(kind)), code) << static_cast<int>(kind);
}

TEST(proxy_error, every_kind_has_a_reason_and_an_answer_unless_the_client_is_gone) {
  for (std::size_t k = 0; k < static_cast<std::size_t>(error_kind::count); ++k) {
    const auto e = make_error(static_cast<error_kind>(k));
    EXPECT_NE(std::string_view(reason_of(e)), "") << k;
    if (e.kind == error_kind::client_gone) {
      EXPECT_FALSE(answered(e));
      EXPECT_EQ(e.where, error_where::client);
    } else {
      EXPECT_TRUE(answered(e)) << k;
      EXPECT_NE(std::string_view(code_of(e)), "") << k;
      EXPECT_GE(status_of(e), 400u) << k;
    }
  }
}

TEST(proxy_error, a_detail_replaces_the_reason_but_not_the_code) {
  const auto e = make_error(error_kind::malformed_request, false, "bare CR in header");
  EXPECT_STREQ(reason_of(e), "bare CR in header");
  EXPECT_STREQ(code_of(e), "bad_request");
}

TEST(proxy_error, refusals_count_under_the_label_their_status_always_had) {
  for (const unsigned status : {400u, 408u, 413u, 431u, 501u, 505u}) {
    const auto e = refusal(status, "why");
    EXPECT_EQ(status_of(e), status);
    EXPECT_EQ(e.where, error_where::client);
    ASSERT_TRUE(describe(e.kind).rejected.has_value()) << status;
    EXPECT_EQ(*describe(e.kind).rejected, reject_reason_for(status)) << status;
  }
}

TEST(proxy_error, node_failures_that_move_on_count_under_the_retry_labels) {
  EXPECT_EQ(describe(error_kind::connect_failed).retried, retry_reason::connect_failed);
  EXPECT_EQ(describe(error_kind::no_response).retried, retry_reason::no_response);
  EXPECT_EQ(describe(error_kind::gateway_error).retried, retry_reason::gateway_error);
  EXPECT_EQ(describe(error_kind::stale_asset).retried, retry_reason::stale_asset);
  EXPECT_FALSE(describe(error_kind::response_timeout).retried.has_value());
}

TEST(proxy_error, sides_are_as_the_failure_says) {
  EXPECT_EQ(make_error(error_kind::body_timeout).where, error_where::client);
  EXPECT_EQ(make_error(error_kind::invalid_response).where, error_where::node);
  EXPECT_EQ(make_error(error_kind::nodes_at_capacity).where, error_where::internal);
}
