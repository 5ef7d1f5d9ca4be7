#include "proxy/deflate_fast.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <memory>

namespace drawbridge::proxy {

// The bit writer stores and the match finder compares whole words as little-endian values.
static_assert(std::endian::native == std::endian::little, "deflate_fast assumes a little-endian machine");

namespace {

// --- the fixed Huffman codes (RFC 1951 §3.2.6), bit-reversed for an LSB-first bit stream ---

constexpr std::uint32_t reverse_bits(std::uint32_t code, unsigned length) {
  std::uint32_t out = 0;
  for (unsigned i = 0; i < length; ++i) out |= ((code >> i) & 1u) << (length - 1 - i);
  return out;
}

// A code and its length, ready to be written in one go (extra bits included where they apply).
struct bits {
  std::uint32_t value = 0;
  std::uint32_t length = 0;
};

// Literal/length symbols 0..287: 0-143 take 8 bits from 0x30, 144-255 9 bits from 0x190, 256-279 7 bits
// from 0, 280-287 8 bits from 0xc0.
constexpr bits fixed_symbol(unsigned symbol) {
  if (symbol < 144) return {reverse_bits(0x30 + symbol, 8), 8};
  if (symbol < 256) return {reverse_bits(0x190 + symbol - 144, 9), 9};
  if (symbol < 280) return {reverse_bits(symbol - 256, 7), 7};
  return {reverse_bits(0xc0 + symbol - 280, 8), 8};
}

constexpr std::array<std::uint16_t, 29> length_base = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                                       31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<std::uint8_t, 29> length_extra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                       2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<std::uint16_t, 30> distance_base = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                                         33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                                         1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::array<std::uint8_t, 30> distance_extra = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                         6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

struct code_tables {
  std::array<bits, 256> literal{};
  std::array<bits, 259> length{};                     // by match length 3..258: the symbol's code and its extra bits
  std::array<std::uint8_t, 512> distance_code{};      // see distance_symbol()
  std::array<std::uint32_t, 30> distance_reversed{};  // the 5-bit codes
  bits end_of_block{};

  code_tables() {
    for (unsigned b = 0; b < 256; ++b) literal[b] = fixed_symbol(b);
    end_of_block = fixed_symbol(256);
    for (unsigned code = 0; code < 29; ++code) {
      const unsigned last = code == 28 ? 258 : code == 27 ? 257 : length_base[code + 1] - 1;
      for (unsigned len = length_base[code]; len <= last; ++len) {
        const auto symbol = fixed_symbol(257 + code);
        length[len] = {symbol.value | ((len - length_base[code]) << symbol.length), symbol.length + length_extra[code]};
      }
    }
    // Distances 1..256 by d-1; larger ones by 256 + (d-1)/128 (every code above 16 spans a multiple of 128).
    for (unsigned code = 0; code < 30; ++code) {
      distance_reversed[code] = reverse_bits(code, 5);
      const unsigned first = distance_base[code];
      const unsigned last = code == 29 ? 32768 : distance_base[code + 1] - 1u;
      for (unsigned d = first; d <= last; ++d) {
        if (d <= 256)
          distance_code[d - 1] = static_cast<std::uint8_t>(code);
        else
          distance_code[256 + ((d - 1) >> 7)] = static_cast<std::uint8_t>(code);
      }
    }
  }

  unsigned distance_symbol(unsigned d) const {
    return d <= 256 ? distance_code[d - 1] : distance_code[256 + ((d - 1) >> 7)];
  }
};

const code_tables& tables() {
  static const code_tables t;
  return t;
}

// An LSB-first bit stream into a buffer known to be large enough. put() takes up to 32 bits.
class bit_writer {
 public:
  explicit bit_writer(unsigned char* out) : out_(out) {}
  void put(std::uint32_t value, unsigned count) {
    acc_ |= std::uint64_t{value} << filled_;
    filled_ += count;
    if (filled_ >= 32) {
      const auto word = static_cast<std::uint32_t>(acc_);
      std::memcpy(out_, &word, 4);  // little-endian, as x86 and ARM are
      out_ += 4;
      acc_ >>= 32;
      filled_ -= 32;
    }
  }
  // Pads the last byte with zeros; returns the end of the output.
  unsigned char* finish() {
    while (filled_ > 0) {
      *out_++ = static_cast<unsigned char>(acc_);
      acc_ >>= 8;
      filled_ = filled_ > 8 ? filled_ - 8 : 0;
    }
    return out_;
  }

 private:
  unsigned char* out_;
  std::uint64_t acc_ = 0;
  unsigned filled_ = 0;
};

std::uint32_t load32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t load64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

constexpr unsigned hash_bits = 14;
constexpr std::uint32_t window = 32768;
constexpr unsigned min_match = 4;  // a 3-byte match rarely pays with fixed codes
constexpr unsigned max_match = 258;
constexpr std::size_t max_input = std::size_t{1} << 30;

// Where each hashed 4-byte sequence was last seen, per thread. Entries hold `base + position`; each call
// moves `base` past everything stored before, so stale entries read as out of the window and the table
// never needs clearing (only when `base` would overflow).
struct match_table {
  std::unique_ptr<std::uint32_t[]> slots = std::make_unique<std::uint32_t[]>(std::size_t{1} << hash_bits);
  std::uint32_t base = window + 1;  // any stale (zero) slot is then further back than the window
};

unsigned hash(std::uint32_t four) { return (four * 2654435761u) >> (32 - hash_bits); }

// Length of the common prefix of a and b, at most `limit`.
unsigned match_length(const unsigned char* a, const unsigned char* b, unsigned limit) {
  unsigned n = 0;
  while (n + 8 <= limit) {
    const std::uint64_t diff = load64(a + n) ^ load64(b + n);
    if (diff != 0) return n + static_cast<unsigned>(std::countr_zero(diff)) / 8;
    n += 8;
  }
  while (n < limit && a[n] == b[n]) ++n;
  return n;
}

std::size_t stored_size(std::size_t size) { return size + 5 * std::max<std::size_t>(1, (size + 65534) / 65535); }

// Stored blocks (§3.2.4): for input that did not shrink.
std::size_t deflate_stored(std::string_view in, unsigned char* out) {
  unsigned char* o = out;
  std::size_t at = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, in.size() - at);
    const bool last = at + n == in.size();
    *o++ = last ? 1 : 0;  // BFINAL, BTYPE 00, padded to the byte
    *o++ = static_cast<unsigned char>(n);
    *o++ = static_cast<unsigned char>(n >> 8);
    *o++ = static_cast<unsigned char>(~n);
    *o++ = static_cast<unsigned char>(~n >> 8);
    std::memcpy(o, in.data() + at, n);
    o += n;
    at += n;
  } while (at < in.size());
  return static_cast<std::size_t>(o - out);
}

}  // namespace

std::size_t deflate_fast_bound(std::size_t size) {
  // One fixed block: at most 9 bits per byte, plus the header, end of block and padding; or stored blocks.
  return std::max(size + size / 8 + 16, stored_size(size));
}

std::size_t deflate_fast(std::string_view input, unsigned char* out) {
  const auto& t = tables();
  thread_local match_table seen;
  if (input.size() > max_input) return deflate_stored(input, out);                 // positions are 32-bit
  if (std::uint64_t{seen.base} + input.size() + 2 * (window + 1) > 0xffffffffu) {  // rare: start afresh
    std::fill_n(seen.slots.get(), std::size_t{1} << hash_bits, 0u);
    seen.base = window + 1;
  }
  const std::uint32_t base = seen.base;
  seen.base += static_cast<std::uint32_t>(input.size()) + window + 1;

  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  const std::size_t size = input.size();
  bit_writer w(out);
  w.put(0b011, 3);  // BFINAL = 1, BTYPE = 01 (fixed codes)
  std::size_t pos = 0;
  std::size_t literals_from = 0;
  auto emit_literals = [&](std::size_t end) {
    for (std::size_t i = literals_from; i < end; ++i) w.put(t.literal[in[i]].value, t.literal[in[i]].length);
  };
  while (pos + min_match <= size) {
    const std::uint32_t four = load32(in + pos);
    std::uint32_t& slot = seen.slots[hash(four)];
    const std::uint32_t here = base + static_cast<std::uint32_t>(pos);
    const std::uint32_t distance = here - slot;  // stale or empty slots give a distance beyond the window
    slot = here;
    if (distance == 0 || distance > window || load32(in + pos - distance) != four) {
      // No match: step on, faster through input that keeps not matching (it is likely incompressible), but
      // by at most 32 bytes, so that compressible input after a long incompressible stretch is still found.
      pos += 1 + std::min<std::size_t>((pos - literals_from) >> 5, 31);
      continue;
    }
    const unsigned limit = static_cast<unsigned>(std::min<std::size_t>(max_match, size - pos));
    const unsigned length =
        min_match + match_length(in + pos + min_match, in + pos - distance + min_match, limit - min_match);
    emit_literals(pos);
    const auto& len_code = t.length[length];
    w.put(len_code.value, len_code.length);
    const unsigned d_code = t.distance_symbol(distance);
    w.put(t.distance_reversed[d_code] | ((distance - distance_base[d_code]) << 5), 5 + distance_extra[d_code]);
    // Remember a position inside the match too: the next repeat often starts there.
    if (length > 8) {
      const std::size_t inside = pos + length - 4;
      seen.slots[hash(load32(in + inside))] = base + static_cast<std::uint32_t>(inside);
    }
    pos += length;
    literals_from = pos;
  }
  emit_literals(size);
  w.put(t.end_of_block.value, t.end_of_block.length);
  const std::size_t compressed = static_cast<std::size_t>(w.finish() - out);
  if (compressed <= stored_size(size)) return compressed;
  return deflate_stored(input, out);
}

void gzip_fast(std::string_view in, std::string& out) {
  static constexpr unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};  // deflate, fastest, Unix
  const std::size_t start = out.size();
  out.resize(start + sizeof header + deflate_fast_bound(in.size()) + 8);
  auto* o = reinterpret_cast<unsigned char*>(out.data()) + start;
  std::memcpy(o, header, sizeof header);
  o += sizeof header;
  o += deflate_fast(in, o);
  const auto crc = static_cast<std::uint32_t>(libdeflate_crc32(0, in.data(), in.size()));
  const auto length = static_cast<std::uint32_t>(in.size());
  for (int i = 0; i < 4; ++i) *o++ = static_cast<unsigned char>(crc >> (8 * i));
  for (int i = 0; i < 4; ++i) *o++ = static_cast<unsigned char>(length >> (8 * i));
  out.resize(static_cast<std::size_t>(o - reinterpret_cast<unsigned char*>(out.data())));
}

}  // namespace drawbridge::proxy
