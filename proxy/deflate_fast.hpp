#pragma once
// drawbridge's own single-pass DEFLATE encoder (RFC 1951), for gzip level 1: one hash probe per position,
// the first match taken, and the fixed Huffman codes of §3.2.6, so there are no code tables to build or
// send. It is the trade HAProxy's libslz makes: a larger output than zlib or libdeflate at level 1 (about
// 1.5 times on JSON) for much less CPU. Like the rest of the gzip codec, it knows nothing of HTTP.
//
// Input that does not shrink goes out as stored blocks, so the output never exceeds the input by more than
// a few bytes per 64 KiB.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace drawbridge::proxy {

// The most deflate_fast writes for `size` input bytes.
std::size_t deflate_fast_bound(std::size_t size);

// Compresses `in` into `out` (at least deflate_fast_bound(in.size()) bytes) as one complete raw DEFLATE
// stream; returns its length. Input beyond 1 GiB is stored, not compressed (positions are 32-bit).
std::size_t deflate_fast(std::string_view in, unsigned char* out);

// `in` as one gzip member (RFC 1952) made with deflate_fast, appended to `out`.
void gzip_fast(std::string_view in, std::string& out);

}  // namespace drawbridge::proxy
