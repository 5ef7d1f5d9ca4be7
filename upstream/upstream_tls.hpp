#pragma once
// TLS from drawbridge to a node: the stream over an upstream_connection's socket, the handshake that
// starts it (SNI, and the node's name checked against its certificate), and the one place that picks the
// plain socket or the TLS stream for each read and write, so that callers write their I/O once.

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <string>

#include "net/awaitable.hpp"
#include "upstream/connection_pool.hpp"

namespace drawbridge::upstream {

struct upstream_tls {
  upstream_tls(net_types::socket& socket, boost::asio::ssl::context& context) : stream(socket, context) {}
  boost::asio::ssl::stream<net_types::socket&> stream;
};

// After the TCP connect: TLS with `server_name` sent as SNI (unless it is an IP address) and, when the
// context verifies, checked against the certificate. The caller times it (it cancels the socket).
net_types::task<boost::system::error_code> start_tls(upstream_connection& connection,
                                                     boost::asio::ssl::context& context,
                                                     const std::string& server_name);

// True when the TLS layer holds input the caller has not read: decrypted bytes, or records that came in
// with the last read. The raw socket's peek cannot see them; a pooled connection holding any is unusable
// (they would be read as the next request's answer).
bool has_buffered_input(upstream_tls& tls);

// Calls `f` with the stream to use for `connection`: its TLS stream, or its plain socket.
template <typename F>
decltype(auto) with_stream(upstream_connection& connection, F&& f) {
  if (connection.tls) return f(connection.tls->stream);
  return f(connection.socket);
}

}  // namespace drawbridge::upstream
