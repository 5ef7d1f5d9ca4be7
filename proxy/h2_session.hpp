#pragma once
// The HTTP/2 protocol state of one client connection: nghttp2 (framing, HPACK, flow control, the rules of
// RFC 9113 §8 on requests) driven sans I/O, and drawbridge's defences on top. Bytes read from the client go
// in through receive(); frames to send come out of collect(); the I/O is h2_connection's.
//
// Defences (each counted per connection; past its limit the connection gets GOAWAY ENHANCE_YOUR_CALM):
//  - Rapid Reset (CVE-2023-44487): RST_STREAMs from the client, a token bucket. Besides, a stream reset
//    cuts its node request, and a new request is refused (REFUSED_STREAM) while max_concurrent_streams
//    exchanges are still running, however many streams the client has reset: the node sees no more
//    requests from one connection than that.
//  - CONTINUATION floods (CVE-2024-27316): nghttp2's limit on CONTINUATION frames per header block, and
//    the header list stops being kept past max_header_list_size (the request then gets a 431).
//  - SETTINGS, PING and empty-DATA floods: token buckets of their own (nghttp2 also caps the acks it queues
//    for a client that does not read them).
//
// Thread: the connection's worker. Ownership: h2_connection owns it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.hpp"
#include "net/stream.hpp"
#include "proxy/h2_stream.hpp"

struct nghttp2_session;

namespace drawbridge::proxy {

// At most `burst` events at once, and `per_second` more each second after that.
class token_bucket {
 public:
  token_bucket(double burst, double per_second) : burst_(burst), rate_(per_second), tokens_(burst) {}
  // False when the event is one too many.
  bool take(std::chrono::steady_clock::time_point now);

 private:
  double burst_;
  double rate_;
  double tokens_;
  std::chrono::steady_clock::time_point last_{};
};

class h2_session {
 public:
  struct hooks {
    // A request's header block is complete: start an exchange for it.
    std::function<void(std::shared_ptr<h2_stream>)> on_request;
    // There are frames to send (collect).
    std::function<void()> on_output;
  };

  h2_session(const conf::http2_config& config, bool secure, const net_types::executor& ex, hooks h);
  ~h2_session();
  h2_session(const h2_session&) = delete;
  h2_session& operator=(const h2_session&) = delete;

  // Bytes from the client. False: the connection is done for (a protocol error or a flood; a GOAWAY saying
  // so is queued: collect it before closing).
  bool receive(const std::uint8_t* data, std::size_t size);
  // Appends frames to send to `out`, until about `limit` bytes or nothing is left.
  void collect(std::string& out, std::size_t limit);
  // Neither side has anything more to say (after a GOAWAY, once the streams it let finish are done).
  bool finished() const;
  // Exchanges running, or answers they left still going out: the connection is in use (a stream whose
  // header block never ends, or a finished one, is not).
  bool busy() const;
  // Streams whose exchange ended and whose answer has made no progress for `limit` (a client window that
  // stays shut) are reset: nothing else would end them.
  void reset_stalled(io_deadline::clock::time_point now, std::chrono::milliseconds limit);
  // Idle too long: GOAWAY, and the session is done once it is out.
  void close_idle();
  // Graceful: GOAWAY with the last stream taken; those finish, no new one starts.
  void go_away();
  // The connection is gone: every stream closes now (their exchanges see it at their next step).
  void close_all();
  // An exchange began or ended (the count limits node requests per connection).
  void exchange_started() { ++exchanges_; }
  void exchange_ended(h2_stream& s);
  std::size_t exchanges() const { return exchanges_; }
  // ENHANCE_YOUR_CALM was sent: a flood, for the log.
  const char* flood() const { return flood_; }
  bool secure() const { return secure_; }

  // --- for h2_stream ---
  void submit_response(h2_stream& s, bool with_body);
  void submit_continue(h2_stream& s);
  void resume(h2_stream& s);
  void reset(h2_stream& s, std::uint32_t error_code);
  void consumed(h2_stream& s, std::size_t n);

 private:
  struct callbacks;
  friend struct callbacks;
  void calm_down(const char* why);
  void closed(std::int32_t id);
  h2_stream* find(std::int32_t id) const;

  const conf::http2_config config_;
  bool secure_;
  net_types::executor executor_;
  hooks hooks_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<h2_stream>> streams_;
  std::vector<std::shared_ptr<h2_stream>> retired_;  // closed by close_all
  std::size_t exchanges_ = 0;
  bool going_away_ = false;
  std::int32_t goaway_last_ = 0;  // the last stream our GOAWAY lets finish
  bool dead_ = false;             // nghttp2 failed fatally: the session may not be called again
  std::string farewell_;          // a GOAWAY written by hand, when dead_
  const char* flood_ = nullptr;
  token_bucket resets_;
  token_bucket pings_;
  token_bucket settings_;
  token_bucket empty_data_;
};

}  // namespace drawbridge::proxy
