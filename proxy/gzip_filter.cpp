#include "proxy/gzip_filter.hpp"

#include <new>

#include "proxy/gzip_policy.hpp"

namespace drawbridge::proxy {

bool gzip_filter::start(const response_facts& facts, boost::beast::http::response_header<>& head) {
  if (!config_.enabled) return false;
  const auto verdict =
      judge_gzip(config_, accepts_gzip(facts.accept_encoding), facts.head_request, facts.has_body, head, facts.length);
  compress_ = verdict.compress;
  whole_ = compress_ && facts.length && *facts.length <= facts.whole_body_room;
  if (compress_ && !whole_) {
    try {
      encoder_.emplace(config_.level);
    } catch (const std::bad_alloc&) {
      compress_ = false;  // no memory for zlib's state: the response goes out as it is
    }
  }
  if (verdict.vary) add_vary_accept_encoding(head);
  if (compress_) mark_gzip_encoded(head);
  return compress_;
}

void gzip_filter::transform(std::string_view in, filter_flush flush, std::string& out) {
  if (whole_ && !encoder_ && flush == filter_flush::finish) {
    gzip_whole(in, config_.level, out);  // the whole body, in one call
    return;
  }
  // Streamed after all (another filter before this one wanted it so): zlib's state now.
  if (!encoder_) encoder_.emplace(config_.level);
  const auto mode = flush == filter_flush::finish ? gzip_encoder::flush::finish
                    : flush == filter_flush::sync ? gzip_encoder::flush::sync
                                                  : gzip_encoder::flush::none;
  encoder_->compress(in, mode, out);
}

}  // namespace drawbridge::proxy
