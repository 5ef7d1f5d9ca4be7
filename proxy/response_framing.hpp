#pragma once
// How a response's body is delimited toward an HTTP/1.x client, and whether the connection survives it:
// one of relay_response's two decisions (the other: the response filters), sans-IO.

#include <cstdint>
#include <optional>

#include "proxy/head_writer.hpp"

namespace drawbridge::proxy {

struct framing_facts {
  unsigned client_version = 11;           // 10 or 11
  bool header_only = false;               // HEAD, 204, 304 or an empty body (framing: tidy_header_only_framing)
  bool body_rewritten = false;            // a filter changes the body (gzip): the node's length no longer holds
  std::optional<std::uint64_t> length{};  // the node's Content-Length
  bool keep_alive = true;                 // the client connection may stay open, as far as the request goes
};

struct framing_choice {
  body_framing framing = body_framing::none;  // none: no body follows (the head's fields: tidy_header_only_framing)
  std::uint64_t length = 0;                   // with body_framing::length
  bool keep_alive = true;                     // false when the close ends the body
};

// A known length passes through; otherwise chunks to HTTP/1.1 and the close to HTTP/1.0.
framing_choice choose_framing(const framing_facts& facts);

}  // namespace drawbridge::proxy
