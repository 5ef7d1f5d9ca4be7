#pragma once
// A streaming brotli encoder (RFC 7932, Content-Encoding: br) over libbrotlienc.
//
// Memory is bounded: the window is 64 KiB (lgwin 16; brotli's default is 4 MiB), which keeps one stream's
// state at quality 4 near 1.9 MB (measured: 1,862,315 bytes for 300 KB of JSON, 10.5 MB with the default
// window), held from construction to destruction.

#include <string>
#include <string_view>

#include "proxy/body_encoder.hpp"

struct BrotliEncoderStateStruct;

namespace drawbridge::proxy {

class brotli_encoder final : public body_encoder {
 public:
  // `quality`: 0 (fastest) to 11. Throws std::bad_alloc when libbrotlienc cannot allocate its state.
  explicit brotli_encoder(int quality);
  ~brotli_encoder() override;

  void compress(std::string_view in, flush mode, std::string& out) override;

 private:
  BrotliEncoderStateStruct* state_;
  bool finished_ = false;
};

// The whole of `in` brotli-encoded, appended to `out`.
void brotli_whole(std::string_view in, int quality, std::string& out);
// Decodes a brotli stream into `out`; false when corrupt, truncated or larger than `max_out`.
bool brotli_decompress(std::string_view in, std::string& out, std::size_t max_out);

}  // namespace drawbridge::proxy
