#pragma once
// Header rewriting between downstream and upstream, sans-IO on Beast field containers.

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>
#include <string_view>
#include <vector>

#include "conf/ip_network.hpp"

namespace drawbridge::proxy {

// Removes hop-by-hop fields: Connection and every field it names, Keep-Alive, TE, Trailer, Upgrade and
// Proxy-*. Content-Length, Transfer-Encoding and Host are never removed through Connection (a client
// must not be able to strip framing or routing with "Connection: host"); framing is set by the caller.
void strip_hop_by_hop(boost::beast::http::fields& fields);

struct forwarding {
  std::string_view client_address;  // the downstream peer's IP
  std::string_view proto;           // "http" or "https"
  std::string_view request_id;
  bool trusted_peer = false;  // the peer is in trusted_proxies: its forwarding headers are believed
};

// Request towards a node: hop-by-hop stripped, `Proxy` removed (httpoxy), X-Request-Id set, Host kept.
// From an untrusted peer: X-Forwarded-For is the peer's address alone; Forwarded, X-Real-IP,
// X-Forwarded-Port and X-Forwarded-Prefix are removed; X-Forwarded-Proto and X-Forwarded-Host are set
// (the latter from Host). From a trusted peer: the peer's address is appended to X-Forwarded-For, the
// others are kept, and X-Forwarded-Proto and X-Forwarded-Host are set only when the peer sent none (it
// knows the scheme and host the client used; we only know its own).
void rewrite_request(boost::beast::http::fields& fields, const forwarding& info);

// Whether `peer` (v4-mapped IPv6 already turned into IPv4) is in one of `trusted`.
bool is_trusted_peer(const std::vector<conf::ip_network>& trusted, const boost::asio::ip::address& peer);

// Response towards the client: hop-by-hop stripped, X-Request-Id set.
void rewrite_response(boost::beast::http::fields& fields, std::string_view request_id);

}  // namespace drawbridge::proxy
