#pragma once
// Streams one message body from a parser to a serializer through a fixed buffer, chunk by chunk as it
// arrives: memory per message is the buffer, whatever the body's size. Used in both directions.
// Include only from the .cpp files that relay (it instantiates Beast's parser and serializer).

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>

#include "proxy/awaitable.hpp"

namespace drawbridge::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

struct relay_result {
  enum class failure { none, source, sink } failed = failure::none;
  boost::system::error_code ec;
  bool sink_started = false;  // at least one write to the sink completed
  bool ok() const { return failed == failure::none; }
};

struct relay_limits {
  std::chrono::milliseconds read_timeout;  // for each read from the source
  std::chrono::milliseconds send_timeout;  // for each write to the sink
};

// Writes `message`'s header (through `serializer`, built on it) (if not yet written) together with the first body
// chunk, then the rest of the body. `buffer` is the caller's scratch space; `bytes` counts body bytes
// that reached the sink.
template <bool is_request>
net::awaitable<relay_result> relay_body(beast::tcp_stream& source, beast::flat_buffer& source_buffer,
                                        http::parser<is_request, http::buffer_body>& parser,
                                        beast::tcp_stream& sink,
                                        http::message<is_request, http::buffer_body>& message,
                                        http::serializer<is_request, http::buffer_body>& serializer,
                                        char* buffer, std::size_t buffer_size, relay_limits limits,
                                        std::uint64_t& bytes) {
  relay_result result;
  auto& out = message.body();  // what `serializer` was built on
  for (;;) {
    std::size_t n = 0;
    if (!parser.is_done()) {
      parser.get().body().data = buffer;
      parser.get().body().size = buffer_size;
      source.expires_after(limits.read_timeout);
      auto [ec, ignored] = co_await http::async_read_some(source, source_buffer, parser, use_tuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        result.failed = relay_result::failure::source;
        result.ec = ec;
        co_return result;
      }
      n = buffer_size - parser.get().body().size;
    }
    out.data = n > 0 ? buffer : nullptr;
    out.size = n;
    out.more = !parser.is_done();
    // A chunk header without data yet: nothing to write, read on (the header waits with it).
    if (n == 0 && out.more) continue;
    sink.expires_after(limits.send_timeout);
    auto [ec, ignored] = co_await http::async_write(sink, serializer, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      result.failed = relay_result::failure::sink;
      result.ec = ec;
      co_return result;
    }
    result.sink_started = true;
    bytes += n;
    if (!out.more) co_return result;
  }
}

}  // namespace drawbridge::proxy
