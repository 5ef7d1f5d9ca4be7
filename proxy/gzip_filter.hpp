#pragma once
// Response compression as a response filter, configured by the gzip section: proxy/gzip_policy.hpp decides
// whether and with which coding (zstd, br or gzip), proxy/body_encoder.hpp encodes. A body whose length
// fits the relay buffer is encoded whole, in one call (about twice the streaming encoders' speed); any
// other is streamed.
//
// A streamed zstd or br response holds its encoder's state while it lasts (0.6 and 1.9 MB, against zlib's
// 0.27 MB): beyond heavy_streams_per_worker of those at once on a worker, a streamed response takes gzip
// instead (or goes out as it is if the client does not accept gzip), so that clients who read slowly
// cannot make each connection hold megabytes.

#include <memory>

#include "conf/config.hpp"
#include "proxy/body_encoder.hpp"
#include "proxy/response_filter.hpp"

namespace drawbridge::proxy {

class gzip_filter final : public response_filter {
 public:
  static constexpr int heavy_streams_per_worker = 32;

  // `config` outlives the filter (the runtime's).
  explicit gzip_filter(const conf::gzip_config& config) : config_(config) {}
  ~gzip_filter() override;
  gzip_filter(const gzip_filter&) = delete;
  gzip_filter& operator=(const gzip_filter&) = delete;

  bool start(const response_facts& facts, boost::beast::http::response_header<>& head) override;
  bool wants_whole_body() const override { return whole_; }
  void transform(std::string_view in, filter_flush flush, std::string& out) override;

  // This response is being compressed (for the compression counters), and with which coding.
  bool compressing() const { return compress_; }
  content_coding coding() const { return coding_; }

 private:
  const conf::gzip_config& config_;
  bool compress_ = false;
  bool whole_ = false;
  content_coding coding_ = content_coding::gzip;
  int level_ = 1;
  bool heavy_ = false;  // counted in this thread's streamed zstd and br responses

  void make_encoder();  // encoder_ for coding_ and level_, counted in the thread's heavy streams if heavy
  std::unique_ptr<body_encoder> encoder_;  // streaming only: the library's state (zlib's about 256 KiB)
};

}  // namespace drawbridge::proxy
