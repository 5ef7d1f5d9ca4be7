#include "proxy/body_encoder.hpp"

#include <stdexcept>

#include "proxy/brotli_encoder.hpp"
#include "proxy/gzip_encoder.hpp"
#include "proxy/zstd_encoder.hpp"

namespace drawbridge::proxy {

std::string_view coding_token(content_coding c) {
  switch (c) {
    case content_coding::zstd:
      return "zstd";
    case content_coding::br:
      return "br";
    case content_coding::gzip:
      return "gzip";
  }
  return "gzip";
}

char* encoder_chunk() {
  thread_local const std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(encoder_chunk_size);
  return buffer.get();
}

std::unique_ptr<body_encoder> make_body_encoder(content_coding coding, int level) {
  switch (coding) {
    case content_coding::zstd:
      return std::make_unique<zstd_encoder>(level);
    case content_coding::br:
      return std::make_unique<brotli_encoder>(level);
    case content_coding::gzip:
      return std::make_unique<gzip_encoder>(level);
  }
  throw std::logic_error("make_body_encoder: unknown coding");
}

void encode_whole(content_coding coding, int level, std::string_view in, std::string& out) {
  switch (coding) {
    case content_coding::zstd:
      return zstd_whole(in, level, out);
    case content_coding::br:
      return brotli_whole(in, level, out);
    case content_coding::gzip:
      return gzip_whole(in, level, out);
  }
}

bool decode_whole(content_coding coding, std::string_view in, std::string& out, std::size_t max_out) {
  switch (coding) {
    case content_coding::zstd:
      return zstd_decompress(in, out, max_out);
    case content_coding::br:
      return brotli_decompress(in, out, max_out);
    case content_coding::gzip:
      return gzip_decompress(in, out) && out.size() <= max_out;
  }
  return false;
}

}  // namespace drawbridge::proxy
