#include "proxy/zstd_encoder.hpp"

#include <zstd.h>

#include <memory>
#include <new>
#include <stdexcept>

namespace drawbridge::proxy {

namespace {

// A streaming encoder's bounds (see zstd_encoder.hpp), the same for every stream, so that a pooled context
// keeps its allocation.
constexpr int window_log = 16;
constexpr int table_log = 14;

constexpr std::size_t chunk_size = encoder_chunk_size;

void check(std::size_t rc, const char* what) {
  if (ZSTD_isError(rc)) throw std::runtime_error(std::string("zstd: ") + what + ": " + ZSTD_getErrorName(rc));
}

// Streaming contexts a thread keeps for its next encoders. A new context allocates its ~600 KB state on
// its first call and sets up its tables; one reused with the same bounds keeps both (measured with 16 KB
// of JSON at level 3: 36 us per stream fresh, 25 us reused). Two per thread bound what an idle worker
// keeps after a burst: about 1.2 MB at the default level (the highest levels' optimal parser needs more).
class context_pool {
 public:
  static constexpr std::size_t capacity = 2;
  context_pool() = default;
  context_pool(const context_pool&) = delete;
  context_pool& operator=(const context_pool&) = delete;
  ~context_pool() {
    gone_ = true;
    for (std::size_t i = 0; i < count_; ++i) ZSTD_freeCCtx(spare_[i]);
  }

  // A context ready for new parameters (reset), or nullptr when libzstd cannot allocate one.
  static ZSTD_CCtx* take() {
    if (!gone_) {
      auto& pool = mine();
      if (pool.count_ > 0) return pool.spare_[--pool.count_];
    }
    return ZSTD_createCCtx();
  }
  // Keeps `cctx` for this thread's next encoder, or frees it when two are kept already (or the thread's
  // pool is being destroyed: an encoder outliving its thread's thread_locals).
  static void give(ZSTD_CCtx* cctx) {
    if (!gone_ && !ZSTD_isError(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only))) {
      auto& pool = mine();
      if (pool.count_ < capacity) {
        pool.spare_[pool.count_++] = cctx;
        return;
      }
    }
    ZSTD_freeCCtx(cctx);
  }

 private:
  static context_pool& mine() {
    thread_local context_pool pool;
    return pool;
  }
  // Trivially destructible, so still readable while (and after) the thread's pool is destroyed.
  static inline thread_local bool gone_ = false;
  ZSTD_CCtx* spare_[capacity] = {};
  std::size_t count_ = 0;
};

}  // namespace

zstd_encoder::zstd_encoder(int level) : cctx_(context_pool::take()) {
  if (cctx_ == nullptr) throw std::bad_alloc();
  try {
    // Every parameter is set again: a reused context keeps those of its last stream.
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level), "level");
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_windowLog, window_log), "window");
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_hashLog, table_log), "hash table");
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_chainLog, table_log), "chain table");
  } catch (...) {
    ZSTD_freeCCtx(cctx_);  // no destructor runs for a constructor that throws
    throw;
  }
}

// An encoder dropped mid-stream (the client went away) leaves a half-written frame in its context: the
// reset in give() discards it.
zstd_encoder::~zstd_encoder() { context_pool::give(cctx_); }

void zstd_encoder::compress(std::string_view in, flush mode, std::string& out) {
  if (finished_) {
    if (!in.empty()) throw std::logic_error("zstd_encoder: input after the end of the stream");
    return;
  }
  const auto op = mode == flush::finish ? ZSTD_e_end : mode == flush::sync ? ZSTD_e_flush : ZSTD_e_continue;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  char* const buffer = encoder_chunk();
  for (;;) {
    ZSTD_outBuffer output{buffer, chunk_size, 0};
    const std::size_t left = ZSTD_compressStream2(cctx_, &output, &input, op);
    check(left, "compress");
    out.append(buffer, output.pos);
    // ZSTD_e_continue is done once it has taken all the input; a flush or the end once nothing is left
    // to write out.
    if (op == ZSTD_e_continue ? input.pos == input.size : left == 0) break;
  }
  if (op == ZSTD_e_end) finished_ = true;
}

void zstd_whole(std::string_view in, int level, std::string& out) {
  struct free_cctx {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
  };
  thread_local std::unique_ptr<ZSTD_CCtx, free_cctx> cctx{ZSTD_createCCtx()};
  if (!cctx) throw std::bad_alloc();
  check(ZSTD_CCtx_reset(cctx.get(), ZSTD_reset_session_and_parameters), "reset");
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level), "level");
  const std::size_t start = out.size();
  out.resize(start + ZSTD_compressBound(in.size()));
  const std::size_t n = ZSTD_compress2(cctx.get(), out.data() + start, out.size() - start, in.data(), in.size());
  check(n, "compress");
  out.resize(start + n);
}

bool zstd_decompress(std::string_view in, std::string& out, std::size_t max_out) {
  const std::unique_ptr<ZSTD_DCtx, std::size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return false;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  char* const buffer = encoder_chunk();
  const std::size_t start = out.size();
  std::size_t last = 0;  // ZSTD_decompressStream's last answer: 0 exactly when a frame has just ended
  for (;;) {
    ZSTD_outBuffer output{buffer, chunk_size, 0};
    last = ZSTD_decompressStream(dctx.get(), &output, &input);
    if (ZSTD_isError(last)) return false;
    out.append(buffer, output.pos);
    if (out.size() - start > max_out) return false;
    // All input taken, and room left in the output (the decoder holds nothing more back) or a frame just
    // ended (with the output exactly full: calling again would start reading a next frame that is not there).
    if (input.pos == input.size && (output.pos < output.size || last == 0)) break;
  }
  return last == 0;
}

}  // namespace drawbridge::proxy
