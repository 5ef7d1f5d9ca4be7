#pragma once
// A streaming zstd encoder (RFC 8878 frames, Content-Encoding: zstd) over libzstd.
//
// Memory is bounded: a stream's window is 64 KiB and its match tables 2^14 entries (level 3 alone would
// take a 2 MiB window and 2^17 entries), which keeps its state near 600 KB (measured: 599,233 bytes
// for 300 KB of JSON) instead of 3.6 MB, for output within a few percent. Held from construction to
// destruction, then kept for the thread's next encoder (two at most per thread: zstd_encoder.cpp). A
// body at hand whole is encoded by zstd_whole with one context per thread, which zstd sizes by the body.

#include <string>
#include <string_view>

#include "proxy/body_encoder.hpp"

struct ZSTD_CCtx_s;

namespace drawbridge::proxy {

class zstd_encoder final : public body_encoder {
 public:
  // `level`: 1 (fastest) to 19. Throws std::bad_alloc when libzstd cannot allocate its state.
  explicit zstd_encoder(int level);
  ~zstd_encoder() override;

  void compress(std::string_view in, flush mode, std::string& out) override;

 private:
  ZSTD_CCtx_s* cctx_;
  bool finished_ = false;
};

// The whole of `in` as one zstd frame (with its content size), appended to `out`.
void zstd_whole(std::string_view in, int level, std::string& out);
// Decodes every zstd frame of `in` into `out`; false when corrupt, truncated or larger than `max_out`.
bool zstd_decompress(std::string_view in, std::string& out, std::size_t max_out);

}  // namespace drawbridge::proxy
