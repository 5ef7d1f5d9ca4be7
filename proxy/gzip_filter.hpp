#pragma once
// gzip as a response filter: proxy/gzip_policy.hpp decides, proxy/gzip_encoder.hpp compresses. A body
// whose length fits the relay buffer is compressed whole, in one call (about twice the streaming
// encoder's speed); any other is streamed through zlib.

#include <optional>

#include "conf/config.hpp"
#include "proxy/gzip_encoder.hpp"
#include "proxy/response_filter.hpp"

namespace drawbridge::proxy {

class gzip_filter final : public response_filter {
 public:
  // `config` outlives the filter (the runtime's).
  explicit gzip_filter(const conf::gzip_config& config) : config_(config) {}

  bool start(const response_facts& facts, boost::beast::http::response_header<>& head) override;
  bool wants_whole_body() const override { return whole_; }
  void transform(std::string_view in, filter_flush flush, std::string& out) override;

  // This response is being compressed (for the gzip counters).
  bool compressing() const { return compress_; }

 private:
  const conf::gzip_config& config_;
  bool compress_ = false;
  bool whole_ = false;
  std::optional<gzip_encoder> encoder_;  // streaming only: zlib's state is about 256 KiB
};

}  // namespace drawbridge::proxy
