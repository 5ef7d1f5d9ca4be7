#pragma once
// A streaming gzip encoder (zlib, RFC 1952 framing): bytes in, compressed bytes appended to a string. It
// knows nothing of HTTP; proxy/gzip_policy.hpp decides what to compress.
//
// Memory is bounded: zlib's state for one stream is about 256 KiB at the default window and memory level,
// held from construction to destruction, plus whatever the caller's output string holds.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/body_encoder.hpp"

namespace drawbridge::proxy {

class gzip_encoder final : public body_encoder {
 public:
  // `level`: 1 (fastest) to 9 (smallest). Throws std::bad_alloc when zlib cannot allocate its state.
  explicit gzip_encoder(int level);
  ~gzip_encoder() override;

  void compress(std::string_view in, flush mode, std::string& out) override;

  std::uint64_t bytes_in() const { return bytes_in_; }
  std::uint64_t bytes_out() const { return bytes_out_; }

 private:
  struct state;
  std::unique_ptr<state> state_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

// The whole of `in` gzip-compressed, appended to `out`, for bodies that are at hand whole. Level 1 is
// drawbridge's own encoder (proxy/deflate_fast.hpp); levels 2 to 9 are libdeflate's, whose compressor is
// kept per thread and level. Measured on a 32 KB JSON body: gzip_fast 12 us for 3,264 bytes, libdeflate
// level 1 34 us for 2,456 bytes, level 2 58 us for 2,243; zlib's streaming encoder at level 1, 59 us.
void gzip_whole(std::string_view in, int level, std::string& out);

// The whole of `in` gzip-compressed with the streaming encoder (for tests).
std::string gzip_compress(std::string_view in, int level);
// Decompresses a gzip stream; returns false on a corrupt or truncated one (for tests and checks).
bool gzip_decompress(std::string_view in, std::string& out);

}  // namespace drawbridge::proxy
