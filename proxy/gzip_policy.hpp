#pragma once
// When drawbridge compresses a response, with which coding, and what compressing changes in its head.
// Pure functions over header values, so every rule is unit-tested on its own
// (tests/unit/proxy/gzip_policy_test.cpp).

#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

#include "conf/config.hpp"
#include "proxy/body_encoder.hpp"

namespace drawbridge::proxy {

// The coding to send for a request's Accept-Encoding, among those `config` has on: the one with the
// highest q-value (RFC 9110 12.5.3), ties going to zstd, then br, then gzip. A coding's q-value is its own
// entry's ("x-gzip" counts as gzip), else that of "*", else 0; "gzip;q=0" refuses gzip even beside "*".
// A malformed element counts for nothing. nullopt when no coding on has q > 0 (an absent or empty header,
// or "identity" alone, accepts none).
std::optional<content_coding> choose_coding(const conf::gzip_config& config, std::string_view accept_encoding);

// The level `config` gives `coding`, which must be on.
int coding_level(const conf::gzip_config& config, content_coding coding);

// Whether the Content-Type's media type (proxy/field_text.hpp) is one of config.types, in any case.
bool gzip_types_match(const conf::gzip_config& config, std::string_view content_type);

struct gzip_verdict {
  bool compress = false;  // gzip this response
  bool vary = false;      // add Vary: Accept-Encoding (every response of a listed type, compressed or not)
};

// `client_accepts`: choose_coding() found a coding the client accepts. `head_request`: the request was
// HEAD. `has_body`: the response has a body to send (not header-only). `content_length`: the response's
// length when the node gave one.
gzip_verdict judge_gzip(const conf::gzip_config& config, bool client_accepts, bool head_request, bool has_body,
                        const boost::beast::http::response_header<>& response,
                        std::optional<std::uint64_t> content_length);

// The head changes of a compressed response: Content-Encoding names the coding, no Content-Length, no
// Accept-Ranges (ranges of the identity body no longer apply), and a strong ETag made weak (the bytes
// differ, the meaning does not). Framing is the caller's (chunked to HTTP/1.1, until close to 1.0).
void mark_encoded(boost::beast::http::response_header<>& response, content_coding coding);

// Adds Accept-Encoding to Vary, merged with what is there ("Vary: *" and an existing Accept-Encoding
// are left alone).
void add_vary_accept_encoding(boost::beast::http::response_header<>& response);

}  // namespace drawbridge::proxy
