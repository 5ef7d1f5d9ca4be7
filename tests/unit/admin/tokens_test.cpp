#include "admin/tokens.hpp"

#include <gtest/gtest.h>

using drawbridge::admin::token_set;

TEST(tokens, named_and_unnamed_tokens_are_read_and_comments_skipped) {
  const auto set = token_set::parse("# who may drain\nops: s3cret\n\nplain-token\r\n  ci:other  \n");
  EXPECT_EQ(set.check("Bearer s3cret"), "ops");
  EXPECT_EQ(set.check("Bearer plain-token"), "default");
  EXPECT_EQ(set.check("Bearer other"), "ci");
}

TEST(tokens, anything_but_an_exact_bearer_token_is_refused) {
  const auto set = token_set::parse("ops:s3cret\n");
  EXPECT_FALSE(set.check(""));
  EXPECT_FALSE(set.check("s3cret"));
  EXPECT_FALSE(set.check("Basic s3cret"));
  EXPECT_FALSE(set.check("Bearer "));
  EXPECT_FALSE(set.check("Bearer s3cre"));
  EXPECT_FALSE(set.check("Bearer s3cret2"));
  EXPECT_FALSE(set.check("Bearer # who"));
  EXPECT_EQ(set.check("bearer s3cret"), "ops");  // the scheme is case-insensitive
}

TEST(tokens, an_empty_file_holds_no_token) {
  EXPECT_TRUE(token_set::parse("# nothing here\n\n").empty());
  EXPECT_THROW(token_set::load("/nonexistent/tokens"), std::runtime_error);
}
