#pragma once
// Header rewriting between downstream and upstream, sans-IO on Beast field containers.

#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace drawbridge::proxy {

// Removes hop-by-hop fields: Connection and every field it names, Keep-Alive, TE, Trailer, Upgrade and
// Proxy-*. Content-Length, Transfer-Encoding and Host are never removed through Connection (a client
// must not be able to strip framing or routing with "Connection: host"); framing is set by the caller.
void strip_hop_by_hop(boost::beast::http::fields& fields);

struct forwarding {
  std::string_view client_address;  // the downstream peer's IP, appended to X-Forwarded-For
  std::string_view proto;           // "http" or "https"
  std::string_view request_id;
};

// Request towards a node: hop-by-hop stripped, X-Forwarded-For appended, X-Forwarded-Proto and
// X-Forwarded-Host set (the latter from Host), X-Request-Id set. Host itself is kept.
void rewrite_request(boost::beast::http::fields& fields, const forwarding& info);

// Response towards the client: hop-by-hop stripped, X-Request-Id set.
void rewrite_response(boost::beast::http::fields& fields, std::string_view request_id);

}  // namespace drawbridge::proxy
