#pragma once
// The node's response header on a plain connection, read with reads of our own rather than Beast's
// async_read_header, so that every read that leaves the socket empty marks it so (net/readiness.hpp):
//  - the read waits for epoll's report instead of trying first, when the socket is marked drained (the
//    pool's peek, or the last response's final read, found it empty);
//  - after the response, the pool knows the connection is empty without peeking at it again.

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/system/error_code.hpp>

#include "net/awaitable.hpp"
#include "upstream/connection_pool.hpp"

namespace drawbridge::upstream {

using response_parser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

// As http::async_read_header(connection.socket, connection.buffer, parser): reads until `parser` has the
// whole header; bytes after it stay in connection.buffer. Errors as Beast's: http::error::end_of_stream
// when the node closed before sending a byte, partial_message when it closed mid-header, the parser's own
// for garbage, socket errors as they come, operation_aborted when the caller's deadline cancelled the wait.
net_types::task<boost::system::error_code> read_response_head(upstream_connection& connection, response_parser& parser);

}  // namespace drawbridge::upstream
