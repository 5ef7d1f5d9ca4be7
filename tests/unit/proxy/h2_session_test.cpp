// h2_session and h2_stream without sockets: frames in (header blocks made with nghttp2's HPACK encoder),
// the requests they make and the frames that come out.

#include "proxy/h2_session.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <utility>
#include <vector>

using namespace drawbridge;
using namespace drawbridge::proxy;

namespace {

using field_list = std::vector<std::pair<std::string, std::string>>;

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const std::string& payload) {
  std::string f;
  const auto n = static_cast<std::uint32_t>(payload.size());
  f += static_cast<char>(n >> 16);
  f += static_cast<char>(n >> 8);
  f += static_cast<char>(n);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>(stream >> shift);
  return f + payload;
}

// A header block (HPACK, RFC 7541) of `fields`, in order.
std::string block(const field_list& fields) {
  nghttp2_hd_deflater* deflater = nullptr;
  nghttp2_hd_deflate_new(&deflater, 4096);
  std::vector<nghttp2_nv> nva;
  for (const auto& [n, v] : fields)
    nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  std::string out(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()), '\0');
  const auto n =
      nghttp2_hd_deflate_hd(deflater, reinterpret_cast<std::uint8_t*>(out.data()), out.size(), nva.data(), nva.size());
  nghttp2_hd_deflate_del(deflater);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

constexpr std::uint8_t end_stream = 0x1, end_headers = 0x4;

struct session_under_test {
  explicit session_under_test(conf::http2_config config = {})
      : session(config, true, io.get_executor(),
                {.on_request = [this](std::shared_ptr<h2_stream> s) { requests.push_back(std::move(s)); },
                 .on_output = [] {}}) {}
  bool feed(const std::string& bytes) {
    return session.receive(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  bool start() { return feed(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(0x4, 0, 0, "")); }
  // The frames the session wrote since the last call: (type, stream, payload).
  std::vector<std::tuple<std::uint8_t, std::uint32_t, std::string>> written() {
    std::string out;
    session.collect(out, 1 << 20);
    std::vector<std::tuple<std::uint8_t, std::uint32_t, std::string>> frames;
    while (out.size() >= 9) {
      const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(out[i])); };
      const std::size_t length = byte(0) << 16 | byte(1) << 8 | byte(2);
      frames.emplace_back(static_cast<std::uint8_t>(byte(3)),
                          (byte(5) << 24 | byte(6) << 16 | byte(7) << 8 | byte(8)) & 0x7fffffff, out.substr(9, length));
      out.erase(0, 9 + length);
    }
    return frames;
  }

  boost::asio::io_context io;
  std::vector<std::shared_ptr<h2_stream>> requests;
  h2_session session;
};

const field_list get_fields{{":method", "GET"}, {":scheme", "https"}, {":authority", "app.example"}, {":path", "/a?b"}};

}  // namespace

TEST(token_bucket, allows_a_burst_then_the_rate) {
  token_bucket bucket(3, 10);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0 + std::chrono::milliseconds(100)));  // one more after a tenth of a second
  EXPECT_FALSE(bucket.take(t0 + std::chrono::milliseconds(100)));
  EXPECT_TRUE(bucket.take(t0 + std::chrono::seconds(10)));  // refilled, never past the burst
  EXPECT_TRUE(bucket.take(t0 + std::chrono::seconds(10)));
  EXPECT_TRUE(bucket.take(t0 + std::chrono::seconds(10)));
  EXPECT_FALSE(bucket.take(t0 + std::chrono::seconds(10)));
}

TEST(h2_session, a_request_becomes_the_http_1_1_head_its_node_gets) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  auto fields = get_fields;
  fields.insert(fields.end(), {{"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}});
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 1, block(fields))));
  ASSERT_EQ(t.requests.size(), 1u);
  EXPECT_EQ(t.requests[0]->http1_head(),
            "GET /a?b HTTP/1.1\r\nhost: app.example\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n");
  EXPECT_TRUE(t.requests[0]->request_complete());
}

TEST(h2_session, a_body_without_a_length_goes_chunked_and_the_window_opens_as_it_is_taken) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  const field_list post{{":method", "POST"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/up"}};
  ASSERT_TRUE(t.feed(frame(0x1, end_headers, 1, block(post)) + frame(0x0, 0, 1, "hello")));
  ASSERT_EQ(t.requests.size(), 1u);
  auto& s = *t.requests[0];
  EXPECT_EQ(s.http1_head(), "POST /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
  EXPECT_FALSE(s.request_complete());
  t.written();  // SETTINGS and its ack
  char buffer[16];
  ASSERT_EQ(s.take_body(buffer, sizeof buffer), 5u);
  EXPECT_EQ(std::string(buffer, 5), "hello");
  // Taken: nghttp2 gives windows back in batches (half a window), so nothing is due for 5 bytes yet; the
  // end of the body completes the request.
  ASSERT_TRUE(t.feed(frame(0x0, end_stream, 1, "")));
  EXPECT_TRUE(s.request_complete());
}

TEST(h2_session, a_host_that_contradicts_the_authority_makes_no_head) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  auto fields = get_fields;
  fields.emplace_back("host", "evil.example");
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 1, block(fields))));
  ASSERT_EQ(t.requests.size(), 1u);
  EXPECT_EQ(t.requests[0]->http1_head(), "");
}

TEST(h2_session, a_path_that_is_not_origin_form_or_a_second_host_makes_no_head) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  // nghttp2 checks the path's form only under http and https: another scheme must not smuggle an absolute
  // target (which would choose its own Host).
  ASSERT_TRUE(
      t.feed(frame(0x1, end_stream | end_headers, 1,
                   block({{":method", "GET"}, {":scheme", "foo"}, {":authority", "a"}, {":path", "http://b/x"}}))));
  auto twice = get_fields;
  twice.insert(twice.end(), {{"host", "app.example"}, {"host", "app.example"}});
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 3, block(twice))));
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 5,
                           block({{":method", "OPTIONS"}, {":scheme", "http"}, {":authority", "a"}, {":path", "*"}}))));
  // Whichever of the first two nghttp2 refuses itself (a reset: it does so with the second Host) makes no
  // request; any that it lets through makes no head.
  ASSERT_FALSE(t.requests.empty());
  for (const auto& r : t.requests) {
    if (r->id() == 5)
      EXPECT_EQ(r->http1_head(), "OPTIONS * HTTP/1.1\r\nhost: a\r\n\r\n");
    else
      EXPECT_EQ(r->http1_head(), "") << "stream " << r->id();
  }
}

TEST(h2_session, an_answer_left_behind_a_shut_window_is_reset_after_the_send_timeout) {
  session_under_test t;
  // The client's window is 0: no DATA may go.
  ASSERT_TRUE(
      t.feed(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(0x4, 0, 0, std::string("\0\x04\0\0\0\0", 6))));
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 1, block(get_fields))));
  auto& s = *t.requests[0];
  t.session.exchange_started();
  boost::beast::http::response_header<> head;
  head.result(200);
  s.write_head(head, body_framing::length);
  const std::string body(100, 'b');
  const boost::asio::const_buffer piece(body.data(), body.size());
  boost::system::error_code ec;
  EXPECT_TRUE(s.finish({&piece, 1}, ec));  // small: taken at once, the exchange is done
  t.session.exchange_ended(s);
  t.written();
  EXPECT_TRUE(t.session.busy());  // its answer still has to go
  const auto now = io_deadline::clock::now();
  t.session.reset_stalled(now + std::chrono::seconds(1), std::chrono::seconds(5));
  EXPECT_TRUE(t.written().empty());
  t.session.reset_stalled(now + std::chrono::seconds(6), std::chrono::seconds(5));
  bool cancelled = false;
  for (const auto& [type, stream, payload] : t.written())
    if (type == 0x3 && stream == 1 && payload == std::string("\0\0\0\x8", 4)) cancelled = true;
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(s.closed());
  EXPECT_FALSE(t.session.busy());
}

TEST(h2_session, a_header_list_past_the_limit_is_not_kept) {
  conf::http2_config config;
  config.max_header_list_size = 1024;
  session_under_test t(config);
  ASSERT_TRUE(t.start());
  auto fields = get_fields;
  for (int i = 0; i < 10; ++i) fields.emplace_back("x-pad-" + std::to_string(i), std::string(200, 'p'));
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 1, block(fields))));
  ASSERT_EQ(t.requests.size(), 1u);
  EXPECT_TRUE(t.requests[0]->header_too_large());
}

TEST(h2_session, no_more_exchanges_than_max_concurrent_streams_run_whatever_the_resets) {
  conf::http2_config config;
  config.max_concurrent_streams = 2;
  session_under_test t(config);
  ASSERT_TRUE(t.start());
  t.written();
  // Two requests, each reset by the client at once; their exchanges are still running.
  for (std::uint32_t id : {1u, 3u}) {
    ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, id, block(get_fields))));
    t.session.exchange_started();
    ASSERT_TRUE(t.feed(frame(0x3, 0, id, std::string("\0\0\0\x8", 4))));
  }
  EXPECT_EQ(t.requests.size(), 2u);
  EXPECT_TRUE(t.requests[0]->closed());
  // A third is refused while those two have not ended.
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 5, block(get_fields))));
  EXPECT_EQ(t.requests.size(), 2u);
  bool refused = false;
  for (const auto& [type, stream, payload] : t.written())
    if (type == 0x3 && stream == 5 && payload == std::string("\0\0\0\x7", 4)) refused = true;  // REFUSED_STREAM
  EXPECT_TRUE(refused);
  // One ends: the next is taken.
  t.session.exchange_ended(*t.requests[0]);
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 7, block(get_fields))));
  EXPECT_EQ(t.requests.size(), 3u);
}

TEST(h2_session, a_response_goes_out_as_headers_without_connection_fields_then_data) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 1, block(get_fields))));
  t.written();
  auto& s = *t.requests[0];
  boost::beast::http::response_header<> head;
  head.result(200);
  head.set(boost::beast::http::field::connection, "keep-alive");
  head.set(boost::beast::http::field::transfer_encoding, "chunked");
  head.set(boost::beast::http::field::content_type, "text/plain");
  s.write_head(head, body_framing::chunked);
  const std::string body = "hello";
  const boost::asio::const_buffer piece(body.data(), body.size());
  boost::system::error_code ec;
  EXPECT_TRUE(s.finish({&piece, 1}, ec));
  EXPECT_FALSE(ec);
  const auto& fields = s.response_fields();
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].first, ":status");
  EXPECT_EQ(fields[0].second, "200");
  EXPECT_EQ(fields[1].first, "content-type");
  EXPECT_EQ(fields[1].second, "text/plain");
  const auto frames = t.written();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(std::get<0>(frames[0]), 0x1);  // HEADERS
  EXPECT_EQ(std::get<0>(frames[1]), 0x0);  // DATA, END_STREAM
  EXPECT_EQ(std::get<2>(frames[1]), "hello");
}

TEST(h2_session, a_stream_past_a_goaway_not_yet_sent_starts_nothing) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 1, block(get_fields))));
  t.session.go_away();  // queued, not sent yet
  ASSERT_TRUE(t.feed(frame(0x1, end_stream | end_headers, 3, block(get_fields))));
  EXPECT_EQ(t.requests.size(), 1u);  // stream 3 reaches no exchange: the client will send it again
  bool goaway_names_1 = false;
  for (const auto& [type, stream, payload] : t.written())
    if (type == 0x7 && payload.substr(0, 4) == std::string("\0\0\0\x1", 4)) goaway_names_1 = true;
  EXPECT_TRUE(goaway_names_1);
}

TEST(h2_session, an_answer_without_a_body_to_an_unfinished_upload_goes_out_before_the_reset) {
  session_under_test t;
  ASSERT_TRUE(t.start());
  const field_list post{{":method", "POST"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/up"}};
  ASSERT_TRUE(t.feed(frame(0x1, end_headers, 1, block(post)) + frame(0x0, 0, 1, "part")));
  t.written();
  auto& s = *t.requests[0];
  boost::beast::http::response_header<> head;
  head.result(204);
  s.write_head(head, body_framing::none);
  boost::system::error_code ec;
  EXPECT_TRUE(s.finish({}, ec));
  const auto frames = t.written();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(std::get<0>(frames[0]), 0x1);  // HEADERS (END_STREAM)
  EXPECT_EQ(std::get<0>(frames[1]), 0x3);  // then RST_STREAM NO_ERROR: the upload is not read
  EXPECT_EQ(std::get<2>(frames[1]), std::string("\0\0\0\0", 4));
  EXPECT_TRUE(s.response_sent());
}
