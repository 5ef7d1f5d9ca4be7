#include "proxy/h2_stream.hpp"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <cassert>
#include <cstring>

#include <nghttp2/nghttp2.h>

#include "proxy/field_text.hpp"
#include "proxy/h2_session.hpp"
#include "upstream/connection_pool.hpp"

namespace drawbridge::proxy {

namespace {
// Fields that describe a connection, not a message (RFC 9113 §8.2.2): never in an HTTP/2 response. (The
// exchange's head is rewritten for HTTP/1.1: rewrite_response has stripped the node's hop-by-hop fields,
// then framing and keep-alive fields were set for an HTTP/1.1 client.)
bool connection_specific(boost::beast::http::field f) {
  using boost::beast::http::field;
  return f == field::connection || f == field::keep_alive || f == field::proxy_connection ||
         f == field::transfer_encoding || f == field::upgrade;
}
}  // namespace

h2_stream::h2_stream(h2_session& owner, std::int32_t id, const executor_type& ex)
    : owner_(owner), id_(id), wake_(ex, io_deadline::clock::time_point::max()) {}

bool h2_stream::secure() const { return owner_.secure(); }

void h2_stream::add_field(std::string_view name, std::string_view value, std::size_t max_list_size) {
  list_size_ += name.size() + value.size() + 32;
  if (list_size_ > max_list_size) too_large_ = true;
  if (too_large_) {
    // What was kept goes too: a refused request needs none of it.
    std::string().swap(fields_);
    std::string().swap(cookie_);
    return;
  }
  if (!name.empty() && name.front() == ':') {
    if (name == ":method")
      method_ = value;
    else if (name == ":path")
      path_ = value;
    else if (name == ":authority")
      authority_ = value;
    else if (name == ":scheme")
      scheme_ = value;
    return;  // nghttp2 refuses any other
  }
  if (name == "cookie") {  // RFC 9113 §8.2.3: crumbs, joined again for an HTTP/1.1 node
    if (!cookie_.empty()) cookie_ += "; ";
    cookie_ += value;
    return;
  }
  if (name == "host") {
    host_ = value;
    ++hosts_;
    return;
  }
  if (name == "content-length") has_length_ = true;
  fields_.append(name).append(": ").append(value).append("\r\n");
}

std::string h2_stream::http1_head() const {
  // Host: the :authority, which a Host field must not contradict (RFC 9113 §8.3.1); one Host at most, as
  // on HTTP/1.1.
  const std::string& host = authority_.empty() ? host_ : authority_;
  if (method_.empty() || hosts_ > 1 || (!host_.empty() && !authority_.empty() && !iequals_ascii(host_, authority_)))
    return {};
  // CONNECT names an authority, not a path; the validator refuses it as it does on HTTP/1.1.
  const std::string& target = method_ == "CONNECT" ? authority_ : path_;
  if (target.empty()) return {};
  if (method_ != "CONNECT") {
    // An origin-form path (or "*" for OPTIONS) under http or https: nghttp2 checks the path's form only
    // for those schemes, and an absolute target would let the request pick its own host.
    if (scheme_ != "http" && scheme_ != "https") return {};
    if (path_.front() != '/' && !(path_ == "*" && method_ == "OPTIONS")) return {};
  }
  std::string head;
  head.reserve(method_.size() + target.size() + host.size() + fields_.size() + cookie_.size() + 64);
  head.append(method_).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!host.empty()) head.append("host: ").append(host).append("\r\n");
  head += fields_;
  if (!cookie_.empty()) head.append("cookie: ").append(cookie_).append("\r\n");
  // A body without a length travels to the node chunked, as one from an HTTP/1.1 client would.
  if (!headers_ended_stream_ && !has_length_) head += "transfer-encoding: chunked\r\n";
  head += "\r\n";
  return head;
}

void h2_stream::body_arrived(const std::uint8_t* data, std::size_t size) {
  // What was taken goes first: the buffer then holds only what the window let in and nobody took yet.
  body_.erase(0, body_taken_);
  body_taken_ = 0;
  body_.append(reinterpret_cast<const char*>(data), size);
  wake();
}

void h2_stream::request_ended() {
  request_ended_ = true;
  wake();
}

std::size_t h2_stream::take_body(char* out, std::size_t size) {
  const std::size_t n = std::min(size, body_.size() - body_taken_);
  std::memcpy(out, body_.data() + body_taken_, n);
  body_taken_ += n;
  if (body_taken_ == body_.size()) {
    body_.clear();
    body_taken_ = 0;
  }
  if (n != 0) owner_.consumed(*this, n);
  return n;
}

task<void> h2_stream::wait() { co_await wake_.async_wait(use_tuple); }

std::size_t h2_stream::on_closed() {
  closed_ = true;
  const std::size_t untaken = body_.size() - body_taken_;
  std::string().swap(body_);
  body_taken_ = 0;
  std::string().swap(out_);
  out_sent_ = 0;
  if (upstream_) {
    boost::system::error_code ignored;
    upstream_->socket.close(ignored);
  }
  wake();
  return untaken;
}

void h2_stream::write_head(const boost::beast::http::response_header<>& head, body_framing) {
  // Every name and value in one buffer (nghttp2 is given views of it, without copying: the stream outlives
  // its HEADERS frame). Sized first: the views must not move.
  std::size_t size = sizeof ":status" - 1 + 3;
  for (const auto& field : head) size += field.name_string().size() + field.value().size();
  head_text_.clear();
  head_text_.reserve(size);
  head_fields_.clear();
  const auto add = [this](std::string_view name, std::string_view value, bool lower) {
    const auto at = head_text_.size();
    head_text_.append(name);
    if (lower)
      for (auto i = at; i < head_text_.size(); ++i)
        if (head_text_[i] >= 'A' && head_text_[i] <= 'Z')
          head_text_[i] = static_cast<char>(head_text_[i] + ('a' - 'A'));
    head_text_.append(value);
    head_fields_.emplace_back(std::string_view(head_text_).substr(at, name.size()),
                              std::string_view(head_text_).substr(at + name.size(), value.size()));
  };
  char status[4];
  const unsigned code = head.result_int() % 1000;
  status[0] = static_cast<char>('0' + code / 100);
  status[1] = static_cast<char>('0' + code / 10 % 10);
  status[2] = static_cast<char>('0' + code % 10);
  add(":status", std::string_view(status, 3), false);
  for (const auto& field : head) {
    if (connection_specific(field.name())) continue;
    const auto name = field.name_string();
    add(std::string_view(name.data(), name.size()), std::string_view(field.value().data(), field.value().size()), true);
  }
  assert(head_text_.size() <= size && "within the reserved room: the views did not move");
  head_staged_ = true;
}

void h2_stream::submit() {
  if (!head_staged_ || submitted_) return;
  submitted_ = true;
  owner_.submit_response(*this, !header_only_);
}

bool h2_stream::queue(std::span<const boost::asio::const_buffer> data, bool last, boost::system::error_code& ec) {
  ec = {};
  if (closed_) {
    ec = boost::asio::error::connection_reset;
    return true;
  }
  std::size_t size = 0;
  for (const auto& b : data) size += b.size();
  if (last && size == 0 && !submitted_ && out_sent_ == out_.size()) header_only_ = true;  // HEADERS ends the stream
  // What nghttp2 took already goes first: a client that reads steadily but never quite catches up must
  // not make the buffer grow.
  out_.erase(0, out_sent_);
  out_sent_ = 0;
  for (const auto& b : data) out_.append(static_cast<const char*>(b.data()), b.size());
  if (last) end_ = true;
  if (submitted_)
    owner_.resume(*this);
  else
    submit();
  return waiting_out() <= high_water;
}

bool h2_stream::write_body(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) {
  return queue(data, false, ec);
}

bool h2_stream::finish(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) {
  return queue(data, true, ec);
}

task<boost::system::error_code> h2_stream::write_rest() {
  deadline_.arm(*this, send_timeout_);
  while (!closed_ && waiting_out() > high_water && !deadline_.expired()) co_await wait();
  const bool timed_out = deadline_.disarm();
  if (closed_) co_return boost::asio::error::connection_reset;
  if (timed_out) co_return boost::beast::error::timeout;
  co_return boost::system::error_code{};
}

void h2_stream::abort() {
  if (closed_ || aborted_) return;
  aborted_ = true;
  owner_.reset(*this, NGHTTP2_INTERNAL_ERROR);
}

task<boost::system::error_code> h2_stream::send_continue() {
  if (closed_) co_return boost::asio::error::connection_reset;
  owner_.submit_continue(*this);
  co_return boost::system::error_code{};
}

bool h2_stream::read_response(std::uint8_t* out, std::size_t size, std::size_t& copied, bool& eof) {
  copied = std::min(size, waiting_out());
  std::memcpy(out, out_.data() + out_sent_, copied);
  out_sent_ += copied;
  if (copied != 0) progress_at_ = io_deadline::clock::now();
  eof = end_ && waiting_out() == 0;
  if (copied == 0 && !eof) return false;
  // Room again: an exchange waiting in write_rest goes on.
  if (waiting_out() <= high_water) wake();
  return true;
}

}  // namespace drawbridge::proxy
