#pragma once
// Serialises message heads into one contiguous buffer, sans-IO. The proxy writes the head and the first
// body bytes with a single gather write; Beast's serializer walks a variant buffer sequence per field,
// which costs more than the copy.

#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <optional>
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
// The framing fields of an answer without a body (HEAD, 1xx, 204, 304, or an empty body), which otherwise
// pass on as the node sent them, made safe for any client: 1xx and 204 lose Content-Length and
// Transfer-Encoding (RFC 9110 8.6 and 6.1: a server must not send them); otherwise a Content-Length becomes
// one field of `length` in plain digits (the node's may be repeated or a list such as "5, 5", which the
// parser accepts when the values agree and strict clients refuse), Transfer-Encoding beside it goes, and
// so does Transfer-Encoding to an HTTP/1.0 client (RFC 9112 6.1). Call it after setting the head's version.
// `length`: the parser's content_length().
void tidy_header_only_framing(boost::beast::http::response_header<>& head, std::optional<std::uint64_t> length);
// Connection: close for HTTP/1.1 when not keeping alive; Connection: keep-alive for HTTP/1.0 when keeping.
void set_keep_alive(boost::beast::http::fields& fields, unsigned version, bool keep);

}  // namespace drawbridge::proxy
