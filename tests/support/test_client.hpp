#pragma once
// Blocking HTTP clients for the tests, with socket-level timeouts so that a broken proxy fails a test
// instead of hanging it. 127.0.0.1 only.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The tests that use these clients wait on what the clients see: wait_for comes with them.
#include "tests/support/wait.hpp"

namespace drawbridge::testing {

struct http_response {
  unsigned status = 0;  // 0 = no response (connection failed or closed)
  std::string error;    // why status is 0
  boost::beast::http::fields headers;
  std::string body;
  bool keep_alive = false;
};

// One keep-alive connection, one request at a time.
class test_client {
 public:
  explicit test_client(std::uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(10));
  ~test_client();

  http_response request(boost::beast::http::verb method, const std::string& target, std::string body = {},
                        const std::vector<std::pair<std::string, std::string>>& headers = {});
  http_response get(const std::string& target) { return request(boost::beast::http::verb::get, target); }
  bool connected() const { return socket_.is_open(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string buffer_;
};

// Opens a connection, writes `bytes` as they are, and returns everything read until the peer closes or
// `timeout` passes (then `timed_out` is set).
struct raw_result {
  std::string received;
  bool timed_out = false;
  bool reset = false;  // the connection ended with a reset rather than a close
};
raw_result raw_exchange(std::uint16_t port, std::string_view bytes,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

// A client that sends `head`, then `filler` over and over, up to `total` bytes, for as long as the peer
// reads it and has not answered: what a client streaming an endless chunk line or trailer section does.
// It stops at the first answer byte (and reads the answer until the close or `timeout`), or when a send
// fails.
struct flood_result {
  std::string received;
  std::uint64_t sent = 0;  // bytes of `head` and filler the peer took
  bool timed_out = false;
};
flood_result flood(std::uint16_t port, std::string_view head, std::string_view filler, std::uint64_t total,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

// The status code of the first response in `raw`, or 0.
unsigned first_status(std::string_view raw);

// Lower-case hex SHA-256 of `data` (what the fake node's /upload answers).
std::string sha256_hex(std::string_view data);

}  // namespace drawbridge::testing
