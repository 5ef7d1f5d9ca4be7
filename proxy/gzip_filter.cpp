#include "proxy/gzip_filter.hpp"

#include <new>

#include "proxy/gzip_policy.hpp"

namespace drawbridge::proxy {

namespace {
// Streamed zstd and br responses in progress on this thread (a worker's filters all run on its thread).
thread_local int heavy_streams = 0;
}  // namespace

gzip_filter::~gzip_filter() {
  if (heavy_) --heavy_streams;
}

void gzip_filter::make_encoder() {
  encoder_ = make_body_encoder(coding_, level_);
  heavy_ = coding_ != content_coding::gzip;
  if (heavy_) ++heavy_streams;
}

bool gzip_filter::start(const response_facts& facts, boost::beast::http::response_header<>& head) {
  if (!config_.enabled) return false;
  const auto chosen = choose_coding(config_, facts.accept_encoding);
  const auto verdict = judge_gzip(config_, chosen.has_value(), facts.head_request, facts.has_body, head, facts.length);
  compress_ = verdict.compress;
  if (compress_) {
    coding_ = *chosen;
    level_ = coding_level(config_, coding_);
  }
  whole_ = compress_ && facts.length && *facts.length <= facts.whole_body_room;
  if (compress_ && !whole_ && coding_ != content_coding::gzip && heavy_streams >= heavy_streams_per_worker) {
    auto gzip_only = config_;
    gzip_only.zstd_level.reset();
    gzip_only.br_level.reset();
    compress_ = choose_coding(gzip_only, facts.accept_encoding).has_value();
    coding_ = content_coding::gzip;
    level_ = coding_level(config_, coding_);
  }
  if (compress_ && !whole_) {
    try {
      make_encoder();
    } catch (const std::bad_alloc&) {
      compress_ = false;  // no memory for the encoder's state: the response goes out as it is
    }
  }
  if (verdict.vary) add_vary_accept_encoding(head);
  if (compress_) mark_encoded(head, coding_);
  return compress_;
}

void gzip_filter::transform(std::string_view in, filter_flush flush, std::string& out) {
  if (whole_ && !encoder_ && flush == filter_flush::finish) {
    encode_whole(coding_, level_, in, out);  // the whole body, in one call
    return;
  }
  // Streamed after all (another filter before this one wanted it so): the encoder's state now.
  if (!encoder_) make_encoder();
  const auto mode = flush == filter_flush::finish ? body_encoder::flush::finish
                    : flush == filter_flush::sync ? body_encoder::flush::sync
                                                  : body_encoder::flush::none;
  encoder_->compress(in, mode, out);
}

}  // namespace drawbridge::proxy
