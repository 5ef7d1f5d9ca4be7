// The gzip and deflate encoders (proxy/gzip_encoder.hpp, proxy/deflate_fast.hpp), and the zstd and brotli
// ones beside them (proxy/body_encoder.hpp), on arbitrary bodies.
//
// Input: byte 0 the level (1 to 9) and which flushes the streaming encoder makes between pieces (bits 4-5:
// none, sync, or alternating); byte 1 cuts the body into the streaming encoder's pieces
// (fuzz_support.hpp splitter); byte 2 repeats the body 1 to 8 times (low 3 bits), so that short inputs
// reach deflate_fast's 64 KiB blocks; the rest is the body.
// Checks (zlib inflates every output, independently of the encoders):
//  - deflate_fast writes at most deflate_fast_bound bytes (into a buffer of exactly that size, so ASan sees
//    a write past it) and its raw DEFLATE stream inflates to the body;
//  - gzip_fast, gzip_whole at the level, and the streaming encoder at the level with its flushes, each make
//    one gzip member that inflates to the body with nothing after it;
//  - after each sync flush, what the streaming encoder wrote so far inflates to all the input so far;
//  - the streaming encoder's byte counters match what went in and what came out;
//  - zstd and br (levels 1 to 9 and 0 to 8 from byte 0), whole and streamed in the same pieces with the
//    same flushes, decode (with the libraries' own decoders) to the body.

#include <zlib.h>

#include <memory>
#include <string>

#include "proxy/body_encoder.hpp"
#include "proxy/deflate_fast.hpp"
#include "proxy/gzip_encoder.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace drawbridge;
using namespace drawbridge::proxy;

namespace {

// zlib's inflate, fed piece by piece (`window_bits` -15: raw DEFLATE, 31: gzip).
class inflater {
 public:
  explicit inflater(int window_bits) { FUZZ_CHECK(inflateInit2(&z_, window_bits) == Z_OK); }
  ~inflater() { inflateEnd(&z_); }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  // Decodes all of `in` that it can, appending to `out`; false on a corrupt stream or on bytes after its end.
  bool feed(std::string_view in, std::string& out) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      char chunk[16384];
      z_.next_out = reinterpret_cast<Bytef*>(chunk);
      z_.avail_out = sizeof chunk;
      const int rc = inflate(&z_, Z_SYNC_FLUSH);
      out.append(chunk, sizeof chunk - z_.avail_out);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        return z_.avail_in == 0;
      }
      if (rc == Z_BUF_ERROR && z_.avail_in == 0) return true;  // all taken; the stream goes on
      if (rc != Z_OK) return false;
    }
  }
  bool ended() const { return ended_; }

 private:
  z_stream z_{};
  bool ended_ = false;
};

// The whole stream inflated; it must end, with nothing after it.
std::string inflated(std::string_view in, int window_bits) {
  inflater z(window_bits);
  std::string out;
  FUZZ_CHECK(z.feed(in, out));
  FUZZ_CHECK(z.ended());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const int level = 1 + data[0] % 9;
  const int flushes = (data[0] >> 4) & 3;
  std::string body;
  const auto piece = fuzz::as_text(data + 3, size - 3);
  for (int i = 0; i <= (data[2] & 7); ++i) body += piece;

  // deflate_fast: within its bound, into a buffer of exactly that size.
  const auto bound = deflate_fast_bound(body.size());
  const auto raw = std::make_unique<unsigned char[]>(bound);
  const auto n = deflate_fast(body, raw.get());
  FUZZ_CHECK(n <= bound);
  FUZZ_CHECK(inflated({reinterpret_cast<const char*>(raw.get()), n}, -15) == body);

  std::string fast;
  gzip_fast(body, fast);
  FUZZ_CHECK(inflated(fast, 31) == body);

  std::string whole;
  gzip_whole(body, level, whole);
  FUZZ_CHECK(inflated(whole, 31) == body);

  // The streaming encoder, flushing between pieces as the input says; after each sync flush, what it
  // wrote so far inflates to all the input so far.
  gzip_encoder encoder(level);
  std::string streamed;
  inflater reader(31);
  std::string so_far;
  std::size_t read = 0;  // of `streamed`, fed to `reader`
  fuzz::splitter split(data[1]);
  std::size_t at = 0;
  for (int i = 0; at < body.size(); ++i) {
    const auto len = split.next(body.size() - at);
    const bool sync = flushes == 1 || (flushes == 2 && i % 2 == 1);
    encoder.compress(std::string_view(body).substr(at, len),
                     sync ? gzip_encoder::flush::sync : gzip_encoder::flush::none, streamed);
    at += len;
    if (sync) {
      const auto checked = so_far.size();  // compared already: only the new bytes are
      FUZZ_CHECK(reader.feed(std::string_view(streamed).substr(read), so_far));
      read = streamed.size();
      FUZZ_CHECK(so_far.size() == at);
      FUZZ_CHECK(std::string_view(so_far).substr(checked) == std::string_view(body).substr(checked, at - checked));
    }
  }
  encoder.compress({}, gzip_encoder::flush::finish, streamed);
  FUZZ_CHECK(inflated(streamed, 31) == body);
  FUZZ_CHECK(reader.feed(std::string_view(streamed).substr(read), so_far));
  FUZZ_CHECK(reader.ended() && so_far == body);
  FUZZ_CHECK(encoder.bytes_in() == body.size());
  FUZZ_CHECK(encoder.bytes_out() == streamed.size());

  for (const auto coding : {content_coding::zstd, content_coding::br}) {
    const int coding_level = coding == content_coding::zstd ? level : level - 1;
    std::string encoded, decoded;
    encode_whole(coding, coding_level, body, encoded);
    FUZZ_CHECK(decode_whole(coding, encoded, decoded) && decoded == body);
    const auto stream = make_body_encoder(coding, coding_level);
    encoded.clear();
    fuzz::splitter pieces(data[1]);
    std::size_t from = 0;
    for (int i = 0; from < body.size(); ++i) {
      const auto len = pieces.next(body.size() - from);
      const bool sync = flushes == 1 || (flushes == 2 && i % 2 == 1);
      stream->compress(std::string_view(body).substr(from, len),
                       sync ? body_encoder::flush::sync : body_encoder::flush::none, encoded);
      from += len;
    }
    stream->compress({}, body_encoder::flush::finish, encoded);
    decoded.clear();
    FUZZ_CHECK(decode_whole(coding, encoded, decoded) && decoded == body);
  }
  return 0;
}
