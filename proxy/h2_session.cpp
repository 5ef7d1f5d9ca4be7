#include "proxy/h2_session.hpp"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <new>
#include <string_view>
#include <vector>

namespace drawbridge::proxy {

bool token_bucket::take(std::chrono::steady_clock::time_point now) {
  if (last_ != std::chrono::steady_clock::time_point{}) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  last_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

namespace {
// Resets, PINGs, SETTINGS and empty DATA frames a client may send: a burst, then a rate per second. A
// browser resets streams when a page navigates away (a few dozen at once at most) and sends a PING or a
// SETTINGS now and then; an attacker sends thousands a second.
constexpr double reset_burst = 200, reset_rate = 50;
constexpr double ping_burst = 50, ping_rate = 10;
constexpr double settings_burst = 50, settings_rate = 10;
constexpr double empty_data_burst = 100, empty_data_rate = 20;
// CONTINUATION frames per header block (a browser's header block fits in one or two frames).
constexpr std::size_t max_continuations = 8;
// The connection's receive window: request bodies buffered for all of the connection's streams together
// are bounded by it (each stream's by http2.initial_window_size).
constexpr std::uint64_t connection_window_streams = 4;

std::string_view view(const std::uint8_t* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

// A GOAWAY frame (RFC 9113 §6.8), for when nghttp2's session can no longer make one.
std::string goaway_frame(std::int32_t last_stream, std::uint32_t error_code) {
  std::string f{0, 0, 8, 0x7, 0, 0, 0, 0, 0};
  for (const std::uint32_t word : {static_cast<std::uint32_t>(last_stream) & 0x7fffffffU, error_code})
    for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>((word >> shift) & 0xff);
  return f;
}
}  // namespace

// nghttp2's callbacks, with the session as user data.
struct h2_session::callbacks {
  static h2_session& self(void* user_data) { return *static_cast<h2_session*>(user_data); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& s = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    // (No exception may cross nghttp2's C frames: an allocation failure fails the connection.)
    try {
      s.streams_.emplace(frame->hd.stream_id, std::make_shared<h2_stream>(s, frame->hd.stream_id, s.executor_));
    } catch (const std::exception&) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t name_length,
                       const std::uint8_t* value, std::size_t value_length, std::uint8_t, void* user_data) {
    auto& s = self(user_data);
    // Trailers (a second HEADERS on the stream) are not forwarded: HTTP/1.1 nodes get none.
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    try {
      if (auto* stream = s.find(frame->hd.stream_id))
        stream->add_field(view(name, name_length), view(value, value_length), s.config_.max_header_list_size);
    } catch (const std::exception&) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    auto& s = self(user_data);
    const auto now = std::chrono::steady_clock::now();
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        auto* stream = s.find(frame->hd.stream_id);
        if (!stream) return 0;
        const bool ends = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {  // trailers
          if (ends) stream->request_ended();
          return 0;
        }
        if (ends) stream->set_headers_ended_stream();
        // However many streams the client reset, no more exchanges run than it may have streams open;
        // and none starts once the connection is going for a flood.
        // Nor past a GOAWAY of ours that is queued but not sent yet: nghttp2 refuses those streams once it
        // goes out, and the client sends them again, so they must not have reached a node.
        const bool past_goaway = s.going_away_ && frame->hd.stream_id > s.goaway_last_;
        if (s.exchanges_ >= s.config_.max_concurrent_streams || s.flood_ || past_goaway) {
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
          return 0;
        }
        try {
          if (s.hooks_.on_request) s.hooks_.on_request(s.streams_.at(frame->hd.stream_id));
        } catch (const std::exception&) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        const bool ends = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        // Empty: no data, whatever padding it carries (nghttp2 gives padding back to the window itself).
        const bool empty = frame->hd.length <= frame->data.padlen;
        if (empty && !ends && !s.empty_data_.take(now)) s.calm_down("empty DATA frames");
        if (ends)
          if (auto* stream = s.find(frame->hd.stream_id)) stream->request_ended();
        return 0;
      }
      case NGHTTP2_RST_STREAM:
        if (!s.resets_.take(now)) s.calm_down("stream resets (Rapid Reset)");
        return 0;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !s.pings_.take(now)) s.calm_down("PING frames");
        return 0;
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !s.settings_.take(now)) s.calm_down("SETTINGS frames");
        return 0;
      default:
        return 0;
    }
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t length, void* user_data) {
    auto& s = self(user_data);
    auto* stream = s.find(stream_id);
    // A body nobody will read (the exchange answered already): dropped, its window given back at once.
    if (!stream || stream->exchange_done()) {
      nghttp2_session_consume(session, stream_id, length);
      return 0;
    }
    try {
      stream->body_arrived(data, length);
    } catch (const std::exception&) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t, void* user_data) {
    auto& s = self(user_data);
    const auto it = s.streams_.find(stream_id);
    if (it == s.streams_.end()) return 0;
    const auto untaken = it->second->on_closed();
    // Body bytes that arrived and were never taken: the connection's window gets them back.
    if (untaken != 0) nghttp2_session_consume_connection(session, untaken);
    s.streams_.erase(it);
    return 0;
  }

  static ssize_t read_data(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto* stream = static_cast<h2_stream*>(source->ptr);
    std::size_t copied = 0;
    bool eof = false;
    if (!stream->read_response(buf, length, copied, eof)) return NGHTTP2_ERR_DEFERRED;
    if (eof) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(copied);
  }

  // The last frame of an answer went out. If the client is still sending a body nobody will read, RFC
  // 9113 §8.1 lets the server end the stream with NO_ERROR now (not sooner: a reset submitted earlier
  // would make nghttp2 drop what is still queued for the stream).
  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (auto* stream = self(user_data).find(frame->hd.stream_id)) stream->set_response_sent();
    if (nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
  }
};

h2_session::h2_session(const conf::http2_config& config, bool secure, const net_types::executor& ex, hooks h)
    : config_(config),
      secure_(secure),
      executor_(ex),
      hooks_(std::move(h)),
      resets_(reset_burst, reset_rate),
      pings_(ping_burst, ping_rate),
      settings_(settings_burst, settings_rate),
      empty_data_(empty_data_burst, empty_data_rate) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(cbs);
    throw std::bad_alloc();
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, callbacks::on_frame_send);
  // Flow control is the request body's back-pressure: windows open as the node takes the bytes.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_max_continuations(option, max_continuations);
  // nghttp2's own Rapid Reset limit stays as a backstop behind ours (which is stricter).
  const int rc = nghttp2_session_server_new2(&session_, cbs, this, option);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(option);
  if (rc != 0) throw std::bad_alloc();

  const std::array<nghttp2_settings_entry, 4> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, config_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(config_.initial_window_size)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(config_.max_header_list_size)},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, static_cast<std::uint32_t>(config_.max_frame_size)},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  const auto window = std::min<std::uint64_t>(config_.initial_window_size * connection_window_streams, (1U << 31) - 1);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(window));
}

h2_session::~h2_session() { nghttp2_session_del(session_); }

h2_stream* h2_session::find(std::int32_t id) const {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool h2_session::receive(const std::uint8_t* data, std::size_t size) {
  if (dead_) return false;
  const auto n = nghttp2_session_mem_recv(session_, data, size);
  if (flood_ && n >= 0) {
    // Nothing more is read: the GOAWAY goes out, then the connection closes.
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
    return false;
  }
  if (n < 0) {
    // A fatal error: the session may not be used again (a protocol violation nghttp2 could answer itself
    // was answered with a GOAWAY, and mem_recv went on). Of those, the floods nghttp2 caught (too many
    // CONTINUATION frames, acks the client does not read) get our GOAWAY, written by hand.
    dead_ = true;
    spdlog::debug("HTTP/2 connection error: {}", nghttp2_strerror(static_cast<int>(n)));
    if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || n == NGHTTP2_ERR_FLOODED) {
      calm_down(n == NGHTTP2_ERR_FLOODED ? "frames to acknowledge (unread acks)" : "CONTINUATION frames");
      farewell_ = goaway_frame(nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_ENHANCE_YOUR_CALM);
    }
    return false;
  }
  if (hooks_.on_output && nghttp2_session_want_write(session_)) hooks_.on_output();
  return true;
}

void h2_session::collect(std::string& out, std::size_t limit) {
  if (dead_) {
    out += farewell_;
    farewell_.clear();
    return;
  }
  while (out.size() < limit) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) return;  // nothing more (or a fatal error: the caller sees finished())
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
}

bool h2_session::finished() const {
  if (dead_) return farewell_.empty();
  return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
}

void h2_session::go_away() {
  if (going_away_) return;
  if (dead_) return;
  going_away_ = true;
  goaway_last_ = nghttp2_session_get_last_proc_stream_id(session_);
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, goaway_last_, NGHTTP2_NO_ERROR, nullptr, 0);
  if (hooks_.on_output) hooks_.on_output();
}

void h2_session::close_all() {
  // on_closed may run an exchange's code only later (wakes are posted): the table can be walked safely.
  for (auto& [id, stream] : streams_) {
    stream->on_closed();
    retired_.push_back(std::move(stream));  // nghttp2 still points at it until the session goes
  }
  streams_.clear();
}

void h2_session::exchange_ended(h2_stream& s) {
  --exchanges_;
  s.set_exchange_done();
  // An exchange that ended without its whole answer (the client's side timed out before any of it went)
  // leaves nothing to finish the stream: it is reset.
  if (!s.response_queued()) reset(s, NGHTTP2_INTERNAL_ERROR);
}

bool h2_session::busy() const {
  if (exchanges_ > 0) return true;
  return std::any_of(streams_.begin(), streams_.end(),
                     [](const auto& entry) { return entry.second->answer_pending(); });
}

void h2_session::reset_stalled(io_deadline::clock::time_point now, std::chrono::milliseconds limit) {
  for (auto& [id, s] : streams_)
    if (s->answer_pending() && now - s->progress_at() > limit) reset(*s, NGHTTP2_CANCEL);
}

void h2_session::close_idle() {
  if (dead_) return;
  going_away_ = true;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  if (hooks_.on_output) hooks_.on_output();
}

void h2_session::calm_down(const char* why) {
  if (!flood_) flood_ = why;
}

void h2_session::submit_response(h2_stream& s, bool with_body) {
  if (dead_) return;
  const auto& fields = s.response_fields();
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  // Not copied: the stream (and its fields) lives until nghttp2 has sent the frame and closed the stream.
  for (const auto& [name, value] : fields)
    nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = callbacks::read_data;
  nghttp2_submit_response(session_, s.id(), nva.data(), nva.size(), with_body ? &provider : nullptr);
  if (hooks_.on_output) hooks_.on_output();
}

void h2_session::submit_continue(h2_stream& s) {
  if (dead_) return;
  static const char status[] = ":status";
  static const char hundred[] = "100";
  nghttp2_nv nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(status)),
                reinterpret_cast<std::uint8_t*>(const_cast<char*>(hundred)), sizeof status - 1, sizeof hundred - 1,
                NGHTTP2_NV_FLAG_NONE};
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, s.id(), nullptr, &nv, 1, nullptr);
  if (hooks_.on_output) hooks_.on_output();
}

void h2_session::resume(h2_stream& s) {
  if (dead_) return;
  nghttp2_session_resume_data(session_, s.id());
  if (hooks_.on_output) hooks_.on_output();
}

void h2_session::reset(h2_stream& s, std::uint32_t error_code) {
  if (dead_) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id(), error_code);
  if (hooks_.on_output) hooks_.on_output();
}

void h2_session::consumed(h2_stream& s, std::size_t n) {
  if (dead_) return;
  nghttp2_session_consume(session_, s.id(), n);
  if (hooks_.on_output) hooks_.on_output();
}

}  // namespace drawbridge::proxy
