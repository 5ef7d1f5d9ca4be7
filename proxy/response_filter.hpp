#pragma once
// Response filters: what stands between the node's answer and the client's sink. Each sees the response
// head (and may change it) and may take the body over, transforming it as it streams. They run as a
// small ordered list, per response: compression (proxy/gzip_filter.hpp: gzip, zstd, br) is the first;
// a version cookie would only touch the head. Sans-IO: the relay (proxy/filter_relay.hpp) does the reading
// and the writing.
//
// Thread: the session's worker. A filter lives on the exchange's frame for one response.

#include <array>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drawbridge::proxy {

// What a filter may base its decision on, besides the head.
struct response_facts {
  std::string_view accept_encoding{};     // the request's
  bool head_request = false;              // the request was HEAD
  bool has_body = false;                  // the response has a body to relay (not header-only)
  std::optional<std::uint64_t> length{};  // the node's Content-Length
  std::size_t whole_body_room = 0;        // a body up to this size can be read whole before it is sent
};

enum class filter_flush : std::uint8_t {
  none,   // the filter may hold bytes back
  sync,   // everything given so far must come out (the node paused: long polls, server-sent events)
  finish  // the body ends with this input
};

class response_filter {
 public:
  virtual ~response_filter() = default;
  // Once per response, before the head is written: may change `head`. True when the filter transforms the
  // body; it then gets every body byte through transform (and no other filter's framing is assumed).
  virtual bool start(const response_facts& facts, boost::beast::http::response_header<>& head) = 0;
  // Whether the body is better given whole, in one transform with `finish`, than streamed. Asked only
  // of a filter that took the body over; its own answer includes the length check (whole_body_room).
  virtual bool wants_whole_body() const { return false; }
  // Transforms `in`, appending the result to `out`. Throws when it cannot (no memory): the response fails.
  virtual void transform(std::string_view in, filter_flush flush, std::string& out) = 0;
};

// One response's filters, in the order the body passes them (at most `capacity`; no allocation).
class response_filters {
 public:
  static constexpr std::size_t capacity = 4;

  // Before start. False (and not added) when the list is full.
  bool add(response_filter& filter);
  // Runs every filter's start, in order; keeps those that take the body over.
  void start(const response_facts& facts, boost::beast::http::response_header<>& head);
  // Some filter changes the body: its length and framing are no longer the node's.
  bool rewrites_body() const { return active_count_ > 0; }
  // Every filter that changes the body wants it whole.
  bool whole_body() const;
  // `in` through every filter that changes the body, the last one's output appended to `out`.
  void transform(std::string_view in, filter_flush flush, std::string& out);

 private:
  std::array<response_filter*, capacity> all_{};
  std::size_t count_ = 0;
  std::array<response_filter*, capacity> active_{};
  std::size_t active_count_ = 0;
  std::array<std::string, 2> between_;  // one filter's output on its way to the next (two or more active)
};

}  // namespace drawbridge::proxy
