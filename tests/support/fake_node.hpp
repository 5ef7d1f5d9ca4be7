#pragma once
// A scriptable stand-in for an Appsmith node, on its own thread and io_context.
//
//   GET /api/v1/health   200 {"responseMeta":{"status":200,"success":true},"data":"All systems are up"},
//                        or, while "starting", 502 with the plain body "502 Bad Gateway" (as a real node's
//                        Caddy answers while the Java server boots)
//   POST /upload         streams the body and answers {"node":..,"bytes":N,"sha256":".."}
//   anything else        JSON naming the node, the method, the path, the connection's number, the
//                        request's number on it, and the headers received
// Query parameters on any path script the answer: status=N, delay_ms=N (before the header),
// stall_ms=N (after the header, before the body), bytes=N (a body of N bytes), chunked=1, close=1
// (Connection: close), reset=1 (abort the connection without answering), garbage=1 (a non-HTTP answer),
// die_on_next=1 (answer keep-alive, then close the connection unanswered when its next request comes:
// the race a proxy meets when a node times out an idle pooled connection), h_NAME=VALUE (set the response
// header NAME; %XX escapes decoded). A WebSocket upgrade (any path) is accepted and every message echoed.
//
// With a `version` V (an Appsmith node of that build), once booted: `X-Appsmith-Version: V` on every
// answer; GET /info gives {"version":"V",...}; a request under /api/ whose X-Appsmith-Version is another
// version gets Appsmith's 400 (AE-BAD-4002, "expected 'V'"); GET / (and /index.html) is an HTML page that
// loads /static/js/main.V.js; that file is served, any other under /static/ is a 404.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace drawbridge::testing {

struct fake_node_options {
  std::string name = "node";
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                    // 0 = the kernel chooses; read it back with port()
  std::chrono::milliseconds start_delay{0};  // every request answers 502 (plain text) until this much time has passed
  // Every request, whatever its query: answered normally, reset without an answer, answered with junk, or
  // read and never answered (the connection held until the peer closes it).
  enum class behaviour { normal, reset, garbage, stall } mode = behaviour::normal;
  // Every Nth connection (N, 2N, ...) is reset at its first request, after its header was read; 0 = none.
  std::uint32_t reset_every = 0;
  // The value of this request header is recorded for every request, as soon as its header is read
  // (recorded(), and on_record if set): a test can tell which requests reached the node, even those it
  // never answered.
  std::string record_header;
  std::function<void(const std::string&)> on_record;  // called on the node's thread
  // Non-empty: answers like an Appsmith node of this version (see the list at the top).
  std::string version;
};

class fake_node {
 public:
  explicit fake_node(fake_node_options options);
  ~fake_node();
  fake_node(const fake_node&) = delete;
  fake_node& operator=(const fake_node&) = delete;

  std::uint16_t port() const;
  const std::string& name() const;
  // Stops accepting and closes every connection; port() then refuses connections.
  void stop();

  std::uint64_t connections() const;       // accepted so far
  std::uint64_t requests() const;          // answered or aborted so far
  std::uint64_t open_connections() const;  // accepted and not yet closed by either side
  // Whether /api/v1/health answers 200 {"responseMeta":{"success":true}} or 503 with success false.
  void set_healthy(bool healthy);
  // The version it answers as from now on (as a node restarted on another build without a drain).
  void set_version(const std::string& version);
  // The values of options.record_header seen so far, in order.
  std::vector<std::string> recorded() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace drawbridge::testing
