#include "upstream/response_head.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>

#include "net/io_now.hpp"
#include "net/readiness.hpp"

namespace drawbridge::upstream {

namespace http = boost::beast::http;
using boost::system::error_code;

namespace {
// Each read offers what the buffer has room for (the exchange reserves 16 KiB), at least this much.
constexpr std::size_t min_read = 512;
constexpr std::size_t max_read = 64 * 1024;
}  // namespace

net_types::task<error_code> read_response_head(upstream_connection& connection, response_parser& parser) {
  auto& buffer = connection.buffer;
  auto& socket = connection.socket;
  for (;;) {
    if (buffer.size() != 0) {
      error_code ec;
      const auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (!ec && parser.is_header_done()) co_return ec;
      if (ec && ec != http::error::need_more) co_return ec;
      if (!ec && used != 0) continue;  // more to parse in what is here
    }
    // Nothing to read until epoll says so: the socket was found empty, and nothing was reported since.
    if (!net_types::may_have_input(socket)) {
      auto [ec] = co_await net_types::wait_readable(socket, net_types::use_tuple);
      if (ec) co_return ec;
    }
    const std::size_t room =
        std::min(std::clamp(buffer.capacity() - buffer.size(), min_read, max_read), buffer.max_size() - buffer.size());
    if (room == 0) co_return http::error::buffer_overflow;  // a header Beast has not refused yet, at the cap
    error_code ec;
    const auto got = net_types::recv_now(socket, buffer.prepare(room), ec);  // marks what it finds
    if (got > 0) {
      buffer.commit(got);
      continue;
    }
    if (ec == boost::asio::error::eof) {
      if (!parser.got_some() && buffer.size() == 0) co_return http::error::end_of_stream;
      co_return http::error::partial_message;
    }
    if (ec == boost::asio::error::interrupted) continue;
    if (ec != boost::asio::error::would_block) co_return ec;
    // Nothing yet: wait for epoll's report before reading again. The fast path queues this wait without a
    // system call (the read just marked the socket drained); the portable path (DRAWBRIDGE_PORTABLE_IO)
    // knows nothing of the socket, and reading again without this wait would spin.
    auto [wait_ec] = co_await net_types::wait_readable(socket, net_types::use_tuple);
    if (wait_ec) co_return wait_ec;
  }
}

}  // namespace drawbridge::upstream
