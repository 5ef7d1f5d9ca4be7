#pragma once
// The I/O of one HTTP/2 client connection: a TLS connection whose ALPN chose h2, or a plain one that began
// with the HTTP/2 preface on a listener with h2c. Two coroutines share the stream: the reader feeds what
// arrives to the protocol state (proxy/h2_session.hpp), the writer sends what it has to say, gathering the
// frames of every stream into one write per turn. Each request runs as an exchange of its own
// (proxy/h2_request.hpp) on the same worker.
//
// Timeouts: with no request in progress the connection may stay for client_idle (client_header before
// its first request), whatever frames it gets meanwhile, then it gets GOAWAY and closes; each exchange
// times its own reads and writes (its stream's deadline); an answer left behind by a finished exchange must
// make progress within `send`, or its stream is reset; a write to the client that makes no progress for
// `send` ends the connection.
//
// Thread: the session's worker. Ownership: the session (proxy/session.hpp) owns it, and the socket it
// uses; run() returns only once every exchange it started has ended.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "net/stream.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/h2_session.hpp"
#include "proxy/io_deadline.hpp"

namespace drawbridge::proxy {

class worker;
struct listener;
struct runtime;

template <typename Stream>
class h2_connection {
 public:
  // `rt` and `l`: the session's runtime and listener (new streams move on to a newer runtime that still has
  // the listener, as HTTP/1.1 requests do between requests). `client_ip`: the client's address as text.
  // `early`: bytes read before the connection was known to speak HTTP/2 (the h2c preface).
  h2_connection(worker& w, Stream& stream, std::shared_ptr<const runtime> rt, const listener& l, std::string client_ip,
                std::string early);
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  task<void> run();
  // Graceful stop: GOAWAY; the streams already begun finish.
  void go_away();
  // Grace expired: the socket and every node connection close now.
  void force_close();
  void check_deadlines(io_deadline::clock::time_point now);

 private:
  task<void> read_loop();
  task<void> linger();
  task<void> write_loop();
  void start_exchange(std::shared_ptr<h2_stream> stream);
  void follow_worker_runtime();
  void trust_peer();
  void wake_writer() { writer_wake_.cancel(); }
  std::chrono::milliseconds idle_limit() const;

  worker& worker_;
  Stream& stream_;
  std::shared_ptr<const runtime> rt_;
  const listener* listener_;
  std::string client_ip_;
  std::string early_;  // until read_loop feeds it to the session
  bool peer_trusted_ = false;
  h2_session session_;
  io_deadline write_deadline_;
  net_types::timer writer_wake_;            // never expires: cancelled when there is something to write
  net_types::timer done_wake_;              // never expires: cancelled when the writer or an exchange ends
  std::unordered_set<h2_stream*> running_;  // streams with an exchange in progress (each holds its stream)
  bool writer_running_ = false;
  bool reader_done_ = false;                     // the reader stopped: the writer sends what is left, then ends
  bool served_ = false;                          // a request has arrived
  io_deadline::clock::time_point idle_since_{};  // when the connection last became idle (epoch: busy)
  bool idle_closed_ = false;                     // GOAWAY sent for idleness
  bool write_failed_ = false;
};

}  // namespace drawbridge::proxy
