#pragma once
// What one message body may cost the proxy in memory and in time, whatever its sender does: a cap on the
// chunk lines a parser buffers, the cap on a session's read buffer, and the deadline of each read of a
// request body (client_body and min_body_rate). Sans-IO: the session and the relay apply them.

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "conf/config.hpp"

namespace drawbridge::proxy {

// A chunk's extensions (";name=value" after its size) longer than this make the body malformed (400).
// Nothing that drawbridge fronts uses them; nginx refuses a chunk line once its 4 KiB buffer is full.
inline constexpr std::size_t max_chunk_extensions = 4 * 1024;

// Refuses, through `parser`'s chunk callback, a complete chunk line whose extensions pass the cap. An
// unfinished one is stopped by the cap on the buffer it is read into (client_buffer_cap).
template <typename Parser>
void limit_chunk_extensions(Parser& parser) {
  // Stateless, so one object serves every parser (Beast keeps a reference to it).
  static auto check = [](std::uint64_t, boost::beast::string_view extensions, boost::system::error_code& ec) {
    if (extensions.size() > max_chunk_extensions) ec = boost::beast::http::error::bad_chunk_extension;
  };
  parser.on_chunk_header(check);
}

// The cap on a session's read buffer. It holds a request header (at most max_header_size: read_header
// checks before every read of at most `read_size`), then what a chunked body's parser has not consumed
// yet: a chunk line, or the trailer section. Beast's read fails with buffer_overflow at the cap, so a
// chunk line or a trailer section that never ends costs at most this, and the request gets a 400.
constexpr std::size_t client_buffer_cap(const conf::limits_config& limits, std::size_t read_size) {
  return static_cast<std::size_t>(limits.max_header_size) + max_chunk_extensions + 2 * read_size;
}

// min_body_rate counts from this far into a body on (a slow start, a client's TCP window opening).
inline constexpr std::chrono::milliseconds body_rate_grace{20'000};

// The latest time the next read of a request body may complete: `gap` (client_body) after now, and not
// past the moment `bytes` read since `started` fall below `min_rate` bytes/s (0 = no minimum). Both are
// absolute: bytes trickled in cannot hold the connection past them.
std::chrono::steady_clock::time_point body_read_deadline(std::chrono::steady_clock::time_point started,
                                                         std::chrono::steady_clock::time_point now, std::uint64_t bytes,
                                                         std::chrono::milliseconds gap, std::uint64_t min_rate);

}  // namespace drawbridge::proxy
