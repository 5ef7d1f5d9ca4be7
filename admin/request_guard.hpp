#pragma once
// The admin API's checks against browsers, as pure functions of a request's fields. Without a token (allowed
// on loopback) a web page the operator happens to have open could otherwise use the API: a "no-cors" POST
// to 127.0.0.1 needs no permission from us, and DNS rebinding lets a page read our answers under a name of
// its own that resolves to 127.0.0.1. Neither a CLI nor curl sends what these checks refuse.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace drawbridge::admin {

// The request says it comes from a web page: it has an Origin field (browsers send one on every POST and
// on every cross-origin request), or a Sec-Fetch-Site other than "none" (typed into the address bar) and
// "same-origin".
bool sent_by_a_web_page(const boost::beast::http::fields& fields);

// `host` (a Host field's value) names the admin listener: its IP and port ("127.0.0.1:9901", "[::1]:9901"),
// "localhost:PORT", or "localhost" without a port. Case-insensitive. A name of any other kind is what DNS
// rebinding needs, so it is refused.
bool names_the_listener(std::string_view host, const boost::asio::ip::tcp::endpoint& listener);

// "application/json" in any case, with or without parameters ("application/json; charset=utf-8").
bool is_json_media_type(std::string_view content_type);

}  // namespace drawbridge::admin
