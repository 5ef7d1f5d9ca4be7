#include "proxy/gzip_encoder.hpp"

#include <zlib.h>

#include <cstdint>
#include <new>
#include <stdexcept>

namespace drawbridge::proxy {

struct gzip_encoder::state {
  z_stream z{};
  bool finished = false;
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
  // Grow the output in steps sized to what deflate says it may need; loop until it has consumed the input
  // and (for a flush) emitted everything.
  for (;;) {
    const std::size_t start = out.size();
    const std::size_t room = deflateBound(&z, z.avail_in) + 64;
    out.resize(start + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + start);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, how);
    const std::size_t produced = room - z.avail_out;
    out.resize(start + produced);
    bytes_out_ += produced;
    if (rc == Z_STREAM_END) {
      state_->finished = true;
      return;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("gzip_encoder: deflate failed");
    // Done when all input is taken and deflate did not fill the room we gave it (nothing left to emit).
    if (z.avail_in == 0 && z.avail_out != 0) return;
  }
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
