// RESP out (commands) and in (replies split anywhere, nested, errors, junk).

#include "cluster/resp.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::cluster;

TEST(resp, a_command_is_an_array_of_bulk_strings_whatever_bytes_they_hold) {
  EXPECT_EQ(encode_command(command("SET", "k", std::string("a\r\nb\0c", 6))),
            std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\0c\r\n", 32));
  EXPECT_EQ(encode_command(command("PING")), "*1\r\n$4\r\nPING\r\n");
}

TEST(resp, replies_come_out_whole_however_the_bytes_are_split) {
  const std::string stream =
      "+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n-ERR wrong\r\n*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$0\r\n\r\n";
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    reply_reader reader;
    std::vector<reply> got;
    for (const auto& part : {stream.substr(0, split), stream.substr(split)}) {
      ASSERT_TRUE(reader.feed(part.data(), part.size()));
      for (;;) {
        reply r;
        std::string error;
        const auto result = reader.next(r, error);
        ASSERT_NE(result, reply_reader::result::protocol_error) << error;
        if (result == reply_reader::result::need_more) break;
        got.push_back(std::move(r));
      }
    }
    ASSERT_EQ(got.size(), 6u) << "split at " << split;
    EXPECT_EQ(got[0].kind, reply::type::status);
    EXPECT_EQ(got[0].text, "OK");
    EXPECT_EQ(got[1].integer, 42);
    EXPECT_EQ(got[2].text, "hello");
    EXPECT_TRUE(got[3].is_nil());
    EXPECT_TRUE(got[4].is_error());
    EXPECT_EQ(got[4].text, "ERR wrong");
    ASSERT_EQ(got[5].elements.size(), 3u);
    EXPECT_EQ(got[5].elements[1].elements.at(0).text, "x");
    EXPECT_EQ(got[5].elements[2].text, "");
  }
}

TEST(resp, bytes_that_are_not_resp_are_a_protocol_error) {
  reply_reader reader;
  const std::string junk = "HTTP/1.1 200 OK\r\n";
  ASSERT_TRUE(reader.feed(junk.data(), junk.size()));
  reply r;
  std::string error;
  EXPECT_EQ(reader.next(r, error), reply_reader::result::protocol_error);
  EXPECT_FALSE(error.empty());
}
