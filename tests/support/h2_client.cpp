#include "tests/support/h2_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace drawbridge::testing {

struct h2_client::callbacks {
  static h2_client& self(void* user_data) { return *static_cast<h2_client*>(user_data); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t name_length,
                       const std::uint8_t* value, std::size_t value_length, std::uint8_t, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto& r = self(user_data).responses_[frame->hd.stream_id];
    const std::string n(reinterpret_cast<const char*>(name), name_length);
    const std::string v(reinterpret_cast<const char*>(value), value_length);
    if (n == ":status") {
      const unsigned status = static_cast<unsigned>(std::stoul(v));
      if (status >= 200) r.status = status;  // an interim answer (100) is not the answer
      return 0;
    }
    r.headers.emplace(n, v);
    return 0;
  }

  static int on_data(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                     std::size_t length, void* user_data) {
    auto& c = self(user_data);
    c.responses_[stream_id].body.append(reinterpret_cast<const char*>(data), length);
    // Without automatic windows the connection's window is given back at once (a browser's is large) and a
    // stream's only once released: one stalled stream does not stall the others.
    if (!c.options_.auto_window) {
      if (c.released_[stream_id])
        nghttp2_session_consume(session, stream_id, length);
      else
        nghttp2_session_consume_connection(session, length);
    }
    return 0;
  }

  static int on_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data) {
    auto& r = self(user_data).responses_[stream_id];
    r.closed = true;
    r.reset_code = error_code;
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user_data) {
    auto& c = self(user_data);
    const auto& body = c.bodies_[stream_id];
    auto& sent = c.body_sent_[stream_id];
    const std::size_t n = std::min(length, body.size() - sent);
    std::copy_n(body.data() + sent, n, buf);
    sent += n;
    if (sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

h2_client::h2_client(h2_client_options options) : options_(std::move(options)) {}

h2_client::~h2_client() {
  if (session_) nghttp2_session_del(session_);
  ssl_.reset();
  if (fd_ >= 0) ::close(fd_);
}

bool h2_client::connect(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A write the server never reads must not hang the test.
  timeval tv{5, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (options_.tls) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    std::string protos;
    for (const auto& p : options_.alpn) protos.append(1, static_cast<char>(p.size())).append(p);
    SSL_CTX_set_alpn_protos(ctx_.get(), reinterpret_cast<const unsigned char*>(protos.data()),
                            static_cast<unsigned>(protos.size()));
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_tlsext_host_name(ssl_.get(), "test.local");
    if (SSL_connect(ssl_.get()) != 1) {
      error_ = "TLS handshake failed";
      return false;
    }
  }
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, callbacks::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, callbacks::on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, callbacks::on_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  if (!options_.auto_window) nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  std::vector<nghttp2_settings_entry> settings{{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
  if (options_.initial_window) settings.push_back({NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, *options_.initial_window});
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (!flush()) {
    error_ = "could not send the preface";
    return false;
  }
  return true;
}

std::string h2_client::alpn() const {
  if (!ssl_) return {};
  const unsigned char* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::int32_t h2_client::submit(const std::string& method, const std::string& path,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               std::optional<std::string> body, const std::string& authority) {
  std::vector<std::pair<std::string, std::string>> all{
      {":method", method}, {":scheme", options_.tls ? "https" : "http"}, {":authority", authority}, {":path", path}};
  all.insert(all.end(), headers.begin(), headers.end());
  std::vector<nghttp2_nv> nva;
  nva.reserve(all.size());
  for (auto& [n, v] : all)
    nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                   v.size(), NGHTTP2_NV_FLAG_NONE});
  nghttp2_data_provider provider{};
  provider.read_callback = callbacks::read_body;
  const auto id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), body ? &provider : nullptr, nullptr);
  if (id < 0) return -1;
  if (body) bodies_[id] = std::move(*body);
  responses_[id];
  flush();
  return id;
}

void h2_client::reset(std::int32_t stream, std::uint32_t code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, code);
  flush();
}

void h2_client::release(std::int32_t stream) {
  released_[stream] = true;
  nghttp2_session_consume_stream(session_, stream, responses_[stream].body.size());
  flush();
}

bool h2_client::frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, const std::string& payload) {
  flush();
  std::string f;
  const auto length = static_cast<std::uint32_t>(payload.size());
  f += static_cast<char>((length >> 16) & 0xff);
  f += static_cast<char>((length >> 8) & 0xff);
  f += static_cast<char>(length & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  const auto id = static_cast<std::uint32_t>(stream);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>((id >> shift) & 0xff);
  f += payload;
  std::size_t off = 0;
  while (off < f.size()) {
    const auto n = ssl_ ? SSL_write(ssl_.get(), f.data() + off, static_cast<int>(f.size() - off))
                        : ::send(fd_, f.data() + off, f.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool h2_client::flush() {
  if (nghttp2_failed_) return false;
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return false;
    if (n == 0) return true;
    std::size_t off = 0;
    while (off < static_cast<std::size_t>(n)) {
      const auto w = ssl_ ? SSL_write(ssl_.get(), data + off, static_cast<int>(n - static_cast<ssize_t>(off)))
                          : ::send(fd_, data + off, static_cast<std::size_t>(n) - off, MSG_NOSIGNAL);
      if (w <= 0) {
        ended_ = true;
        return false;
      }
      off += static_cast<std::size_t>(w);
    }
  }
}

bool h2_client::read_some(int timeout_ms) {
  if (!(ssl_ && SSL_pending(ssl_.get()) > 0)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return true;
  }
  std::array<std::uint8_t, 16384> buf{};
  const auto n =
      ssl_ ? SSL_read(ssl_.get(), buf.data(), static_cast<int>(buf.size())) : ::recv(fd_, buf.data(), buf.size(), 0);
  if (n <= 0) {
    ended_ = true;
    return false;
  }
  scan(buf.data(), static_cast<std::size_t>(n));
  // A flood test's raw frames can make nghttp2 give up on the connection (acks of SETTINGS it never
  // sent): the bytes are still read, for the GOAWAY that follows.
  if (!nghttp2_failed_ && nghttp2_session_mem_recv(session_, buf.data(), static_cast<std::size_t>(n)) < 0)
    nghttp2_failed_ = true;
  return true;
}

void h2_client::scan(const std::uint8_t* data, std::size_t size) {
  raw_.append(reinterpret_cast<const char*>(data), size);
  const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(raw_[i])); };
  const auto word = [&](std::size_t i) { return byte(i) << 24 | byte(i + 1) << 16 | byte(i + 2) << 8 | byte(i + 3); };
  while (raw_.size() >= 9) {
    const std::size_t length = byte(0) << 16 | byte(1) << 8 | byte(2);
    if (raw_.size() < 9 + length) return;
    if (byte(3) == 0x7 && length >= 8) {  // GOAWAY
      goaway_last_stream = static_cast<std::int32_t>(word(9) & 0x7fffffffU);
      goaway_code = word(13);
    }
    if (byte(3) == 0x3 && length == 4) resets[static_cast<std::int32_t>(word(5) & 0x7fffffffU)] = word(9);
    raw_.erase(0, 9 + length);
  }
}

bool h2_client::pump(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    flush();
    if (done()) return true;
    if (ended_) return done();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    read_some(static_cast<int>(std::min<long>(left.count(), 50)));
  }
}

bool h2_client::finish(const std::vector<std::int32_t>& ids, std::chrono::milliseconds limit) {
  return pump(
      [&] { return std::all_of(ids.begin(), ids.end(), [&](std::int32_t id) { return responses_[id].closed; }); },
      limit);
}

std::uint32_t h2_client::remote_setting(int id) const {
  return nghttp2_session_get_remote_settings(session_, static_cast<nghttp2_settings_id>(id));
}

}  // namespace drawbridge::testing
