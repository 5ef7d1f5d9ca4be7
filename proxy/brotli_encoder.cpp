#include "proxy/brotli_encoder.hpp"

#include <brotli/decode.h>
#include <brotli/encode.h>

#include <memory>
#include <new>
#include <stdexcept>

namespace drawbridge::proxy {

namespace {

constexpr int window_log = 16;  // see brotli_encoder.hpp

constexpr std::size_t chunk_size = encoder_chunk_size;
std::uint8_t* chunk() { return reinterpret_cast<std::uint8_t*>(encoder_chunk()); }

}  // namespace

brotli_encoder::brotli_encoder(int quality) : state_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
  if (state_ == nullptr) throw std::bad_alloc();
  BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(quality));
  BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, window_log);
}

brotli_encoder::~brotli_encoder() { BrotliEncoderDestroyInstance(state_); }

void brotli_encoder::compress(std::string_view in, flush mode, std::string& out) {
  if (finished_) {
    if (!in.empty()) throw std::logic_error("brotli_encoder: input after the end of the stream");
    return;
  }
  const auto op = mode == flush::finish ? BROTLI_OPERATION_FINISH
                  : mode == flush::sync ? BROTLI_OPERATION_FLUSH
                                        : BROTLI_OPERATION_PROCESS;
  auto next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  std::size_t avail_in = in.size();
  std::uint8_t* const buffer = chunk();
  for (;;) {
    std::uint8_t* next_out = buffer;
    std::size_t avail_out = chunk_size;
    if (!BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr))
      throw std::runtime_error("brotli_encoder: compression failed");
    out.append(reinterpret_cast<const char*>(buffer), chunk_size - avail_out);
    if (avail_in != 0 || BrotliEncoderHasMoreOutput(state_)) continue;
    // PROCESS is done once it has taken the input; FINISH once the stream is closed; FLUSH now.
    if (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(state_)) break;
  }
  if (op == BROTLI_OPERATION_FINISH) finished_ = true;
}

void brotli_whole(std::string_view in, int quality, std::string& out) {
  const std::size_t bound = BrotliEncoderMaxCompressedSize(in.size());
  if (bound == 0) {  // too large to bound: stream it
    brotli_encoder encoder(quality);
    encoder.compress(in, body_encoder::flush::finish, out);
    return;
  }
  const std::size_t start = out.size();
  out.resize(start + bound);
  std::size_t n = bound;
  if (!BrotliEncoderCompress(quality, window_log, BROTLI_MODE_GENERIC, in.size(),
                             reinterpret_cast<const std::uint8_t*>(in.data()), &n,
                             reinterpret_cast<std::uint8_t*>(out.data() + start)))
    throw std::runtime_error("brotli_whole: compression failed");
  out.resize(start + n);
}

bool brotli_decompress(std::string_view in, std::string& out, std::size_t max_out) {
  const std::unique_ptr<BrotliDecoderState, void (*)(BrotliDecoderState*)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), BrotliDecoderDestroyInstance);
  if (!state) return false;
  auto next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  std::size_t avail_in = in.size();
  std::uint8_t* const buffer = chunk();
  const std::size_t start = out.size();
  for (;;) {
    std::uint8_t* next_out = buffer;
    std::size_t avail_out = chunk_size;
    const auto rc = BrotliDecoderDecompressStream(state.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<const char*>(buffer), chunk_size - avail_out);
    if (out.size() - start > max_out) return false;
    if (rc == BROTLI_DECODER_RESULT_SUCCESS) return avail_in == 0;
    if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) continue;
    return false;  // an error, or the input ended before the stream did
  }
}

}  // namespace drawbridge::proxy
