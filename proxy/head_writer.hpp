#pragma once
// Serialises message heads into one contiguous buffer, sans-IO. The proxy writes the head and the first
// body bytes with a single gather write; Beast's serializer walks a variant buffer sequence per field,
// which costs more than the copy.

#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <string>

namespace drawbridge::proxy {

enum class body_framing {
  none,         // no body follows (HEAD, 204, 304, or a request without a body)
  length,       // Content-Length bytes
  chunked,      // chunked transfer coding
  until_close,  // the end of the body is the end of the connection (HTTP/1.0 clients)
};

// "METHOD target HTTP/1.x\r\n" + fields + "\r\n", replacing `out`.
void write_request_head(const boost::beast::http::request_header<>& head, std::string& out);
// "HTTP/1.x status reason\r\n" + fields + "\r\n", replacing `out`. An empty reason becomes the standard one.
void write_response_head(const boost::beast::http::response_header<>& head, std::string& out);

// Replaces Content-Length and Transfer-Encoding with what `framing` needs.
void set_framing(boost::beast::http::fields& fields, body_framing framing, std::uint64_t length);
// The framing fields of an answer without a body (HEAD, 1xx, 204, 304, or an empty body), which pass on as
// the node sent them except where they would break the client's parser or the RFC: 1xx and 204 lose
// Content-Length and Transfer-Encoding (RFC 9110 8.6: a server must not send them); otherwise duplicate
// Content-Length fields (the parser already checked that they agree) become one, and Transfer-Encoding
// beside a Content-Length goes.
void tidy_header_only_framing(boost::beast::http::response_header<>& head);
// Connection: close for HTTP/1.1 when not keeping alive; Connection: keep-alive for HTTP/1.0 when keeping.
void set_keep_alive(boost::beast::http::fields& fields, unsigned version, bool keep);

}  // namespace drawbridge::proxy
