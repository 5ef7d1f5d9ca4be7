#include "proxy/gzip_encoder.hpp"

#include "proxy/deflate_fast.hpp"

#include <libdeflate.h>
#include <zlib.h>

#include <array>

#include <cstdint>
#include <new>
#include <stdexcept>

namespace drawbridge::proxy {

struct gzip_encoder::state {
  z_stream z{};
  bool finished = false;
  // deflate writes here, then what it produced is appended to the caller's string: growing that string
  // by deflate's worst case first would zero-fill tens of kilobytes per call to keep a few.
  static constexpr std::size_t chunk_size = 16 * 1024;
  std::unique_ptr<char[]> chunk = std::make_unique_for_overwrite<char[]>(chunk_size);
};

gzip_encoder::gzip_encoder(int level) : state_(std::make_unique<state>()) {
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&state_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::bad_alloc();
}

gzip_encoder::~gzip_encoder() { deflateEnd(&state_->z); }

void gzip_encoder::compress(std::string_view in, flush mode, std::string& out) {
  auto& z = state_->z;
  if (state_->finished) {
    if (!in.empty()) throw std::logic_error("gzip_encoder: input after the end of the stream");
    return;
  }
  const int how = mode == flush::finish ? Z_FINISH : mode == flush::sync ? Z_SYNC_FLUSH : Z_NO_FLUSH;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  bytes_in_ += in.size();
  // Loop until deflate has consumed the input and (for a flush) emitted everything.
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(state_->chunk.get());
    z.avail_out = static_cast<uInt>(state::chunk_size);
    const int rc = deflate(&z, how);
    const std::size_t produced = state::chunk_size - z.avail_out;
    out.append(state_->chunk.get(), produced);
    bytes_out_ += produced;
    if (rc == Z_STREAM_END) {
      state_->finished = true;
      return;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("gzip_encoder: deflate failed");
    // Done when all input is taken and deflate did not fill the chunk (nothing left to emit).
    if (z.avail_in == 0 && z.avail_out != 0) return;
  }
}

void gzip_whole(std::string_view in, int level, std::string& out) {
  if (level == 1) return gzip_fast(in, out);
  struct free_compressor {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  thread_local std::array<std::unique_ptr<libdeflate_compressor, free_compressor>, 10> compressors;
  thread_local std::unique_ptr<char[]> scratch;
  thread_local std::size_t scratch_size = 0;
  auto& compressor = compressors.at(static_cast<std::size_t>(level));
  if (!compressor) compressor.reset(libdeflate_alloc_compressor(level));
  if (!compressor) throw std::bad_alloc();
  const std::size_t bound = libdeflate_gzip_compress_bound(compressor.get(), in.size());
  if (scratch_size < bound) {
    scratch = std::make_unique_for_overwrite<char[]>(bound);
    scratch_size = bound;
  }
  const std::size_t n = libdeflate_gzip_compress(compressor.get(), in.data(), in.size(), scratch.get(), scratch_size);
  if (n == 0) throw std::runtime_error("gzip_whole: output larger than libdeflate's bound");
  out.append(scratch.get(), n);
}

std::string gzip_compress(std::string_view in, int level) {
  gzip_encoder encoder(level);
  std::string out;
  encoder.compress(in, gzip_encoder::flush::finish, out);
  return out;
}

bool gzip_decompress(std::string_view in, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char chunk[16384];
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // truncated
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END && z.avail_in == 0;
}

}  // namespace drawbridge::proxy
