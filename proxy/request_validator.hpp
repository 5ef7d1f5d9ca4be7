#pragma once
// Strict request framing (RFC 9110/9112), sans-IO. Two passes: the raw header bytes before Beast parses
// them (Beast tolerates obs-fold and a few bytes we refuse), then the parsed fields (Content-Length and
// Transfer-Encoding rules, Host, version, target form). Ambiguity is always refused: a proxy that guesses
// differently from the node behind it is how request smuggling works.

#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <string_view>

namespace drawbridge::proxy {

struct verdict {
  unsigned status = 0;      // 0 = acceptable; otherwise the status to answer before closing
  const char* reason = "";  // short, for the error body and the log
  bool ok() const { return status == 0; }
};

struct header_scan {
  std::size_t end = 0;      // offset just past the blank line ending the header; 0 = not complete yet
  std::size_t scanned = 0;  // resume point for the next call when more bytes arrive
  verdict bad;              // set when a byte that can never be valid was seen
};

// Scans received bytes from `resume` on for the end of the header section. Refuses NUL and other
// control characters, a bare CR or LF, and obs-fold (a line starting with SP or HTAB).
header_scan scan_header(std::string_view received, std::size_t resume);

// A request line whose version is well-formed but neither 1.0 nor 1.1 ("HTTP/2.0", "HTTP/1.7") gets 505.
// Checked on the raw bytes, because Beast refuses such lines as malformed (which would be a 400).
verdict check_version(std::string_view header_block);

// Checks the parsed header of a request that Beast accepted.
verdict check_request_header(const boost::beast::http::request_header<>& header);

// For an absolute-form target ("http://host/path?q"): the authority and the origin-form rest ("/path?q").
// False for every other form.
bool split_absolute_target(std::string_view target, std::string_view& authority, std::string_view& rest);

// An ACME HTTP-01 challenge (RFC 8555 §8.3): "/.well-known/acme-challenge/" and a base64url token, with
// nothing else: no dot segment, no percent-encoding, no query. Only these bypass redirect_https, so that a
// target such as "/.well-known/acme-challenge/../../admin" or ".../%2e%2e/admin" goes the HTTPS way.
bool is_acme_challenge(std::string_view target);
inline constexpr std::string_view acme_challenge_prefix = "/.well-known/acme-challenge/";

}  // namespace drawbridge::proxy
