#pragma once
// What the response compression filter (proxy/gzip_filter.hpp) asks of an encoder, whichever the coding:
// bytes in, encoded bytes appended to a string, with the flushes a relayed body needs. One streaming
// encoder per compressed response that does not fit the relay buffer; a body at hand whole is encoded in
// one call by encode_whole (gzip's and zstd's state kept per thread).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace drawbridge::proxy {

// The content codings drawbridge applies, in its order of preference when a client accepts several
// equally (RFC 9110 12.5.3 leaves ties to the server): zstd is the cheapest to encode for a size close to
// br's, and both are smaller than gzip.
enum class content_coding : std::uint8_t { zstd, br, gzip };
inline constexpr content_coding content_codings[] = {content_coding::zstd, content_coding::br, content_coding::gzip};
inline constexpr std::size_t content_coding_count = std::size(content_codings);

// The coding's token in Accept-Encoding and Content-Encoding ("zstd", "br", "gzip").
std::string_view coding_token(content_coding c);

class body_encoder {
 public:
  enum class flush {
    none,   // encode what the library can; it may hold input back for better compression
    sync,   // everything given so far comes out, decodable now (for a node that pauses: long polls, SSE)
    finish  // the end of the stream, with the coding's trailer
  };
  body_encoder() = default;
  body_encoder(const body_encoder&) = delete;
  body_encoder& operator=(const body_encoder&) = delete;
  virtual ~body_encoder() = default;

  // Encodes `in` and appends the output to `out`. After `finish`, the encoder takes no more input.
  virtual void compress(std::string_view in, flush mode, std::string& out) = 0;
};

// Where the zstd and brotli wrappers have their library write, before what it produced is appended to the
// caller's string (growing that string by the worst case first would zero-fill it): one per thread, as a
// call encodes to the end before another starts.
inline constexpr std::size_t encoder_chunk_size = 16 * 1024;
char* encoder_chunk();

// A streaming encoder of `coding` at `level` (the coding's own scale). Throws std::bad_alloc when the
// library cannot allocate its state.
std::unique_ptr<body_encoder> make_body_encoder(content_coding coding, int level);

// The whole of `in` encoded in one call, appended to `out`, for a body that is at hand whole.
void encode_whole(content_coding coding, int level, std::string_view in, std::string& out);

// Decodes a whole encoded body into `out` (tests and checks); false when it is corrupt, truncated or
// would decode to more than `max_out` bytes.
bool decode_whole(content_coding coding, std::string_view in, std::string& out, std::size_t max_out = 64 << 20);

}  // namespace drawbridge::proxy
