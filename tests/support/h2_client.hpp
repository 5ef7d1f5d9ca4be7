#pragma once
// An HTTP/2 client for tests: nghttp2's client session over a blocking socket to 127.0.0.1, cleartext
// with prior knowledge (h2c) or TLS with ALPN (no certificate check). The test drives it: submit requests,
// then pump() until a condition holds or a time limit passes. For the flood tests it also writes raw
// frames past nghttp2 (frame()).

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nghttp2_session;

namespace drawbridge::testing {

struct h2_response {
  unsigned status = 0;
  std::multimap<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool closed = false;           // the stream closed (answered or reset)
  std::uint32_t reset_code = 0;  // the stream's close error code (0 = NO_ERROR: a complete answer)
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct h2_client_options {
  bool tls = false;
  std::vector<std::string> alpn{"h2"};  // TLS: the protocols offered
  // The client's stream window (SETTINGS_INITIAL_WINDOW_SIZE); 0 = nghttp2's default.
  std::optional<std::uint32_t> initial_window;
  // false: the client takes DATA without giving windows back, except for the streams it releases
  // (release()): a reader that stalls.
  bool auto_window = true;
};

class h2_client {
 public:
  explicit h2_client(h2_client_options options = {});
  ~h2_client();
  h2_client(const h2_client&) = delete;
  h2_client& operator=(const h2_client&) = delete;

  // Connects and sends the preface and SETTINGS. False with error() saying why.
  bool connect(std::uint16_t port);
  const std::string& error() const { return error_; }
  std::string alpn() const;  // TLS: what the server chose

  // A request: its id, or -1. `body`: sent after the header (DATA frames, END_STREAM at its end).
  std::int32_t submit(const std::string& method, const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      std::optional<std::string> body = std::nullopt, const std::string& authority = "test.local");
  void reset(std::int32_t stream, std::uint32_t code = 0x8 /* CANCEL */);
  // Without automatic windows: gives `stream`'s window (and the connection's) back for what it took, now
  // and from now on.
  void release(std::int32_t stream);
  // Raw bytes after the preface (flood tests): frame(type, flags, stream, payload).
  bool frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, const std::string& payload);

  // Reads and writes until `done()` holds, the connection ends, or `limit` passes: whether done() held.
  bool pump(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(10));
  // Until every one of `ids` closed.
  bool finish(const std::vector<std::int32_t>& ids, std::chrono::milliseconds limit = std::chrono::seconds(10));

  h2_response& response(std::int32_t id) { return responses_[id]; }
  bool connection_ended() const { return ended_; }
  // The server's GOAWAY, if one came: its error code and last stream id.
  std::optional<std::uint32_t> goaway_code;
  std::int32_t goaway_last_stream = -1;
  // RST_STREAM frames from the server, by stream: their error codes (whatever nghttp2 made of them).
  std::map<std::int32_t, std::uint32_t> resets;
  // The server's SETTINGS value (as nghttp2 holds it) for `id`.
  std::uint32_t remote_setting(int id) const;

 private:
  struct callbacks;
  bool flush();
  bool read_some(int timeout_ms);
  // Every frame from the server passes here too (GOAWAY is read here, whatever nghttp2 made of the rest).
  void scan(const std::uint8_t* data, std::size_t size);

  h2_client_options options_;
  int fd_ = -1;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_{nullptr, SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, SSL_free};
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, h2_response> responses_;
  std::map<std::int32_t, std::string> bodies_;  // request bodies still to send
  std::map<std::int32_t, std::size_t> body_sent_;
  std::map<std::int32_t, bool> released_;
  std::string error_;
  bool ended_ = false;
  bool nghttp2_failed_ = false;
  std::string raw_;  // bytes from the server not yet scanned as whole frames
};

}  // namespace drawbridge::testing
