#pragma once
// One connection to Redis, on the control thread: TCP, a Unix socket or TLS (rediss://), authenticated and
// on the configured database. Commands are pipelined (each caller awaits its own reply, in order; call_all
// sends several at once); a connection put in subscriber mode instead hands out the messages Redis pushes.
//
// Nothing here retries: on any error the connection closes itself, every waiting caller gets the error,
// and the owner (cluster_link) opens a new one after a backoff. A watchdog of its own closes a connection
// that takes longer than the timeout to open, to answer any call, or (a subscriber) to answer its PINGs,
// whoever is waiting on it. What Redis sends is bounded: a reply over max_reply_bytes, more than
// max_pushes messages waiting, or a reply nobody asked for close the connection.
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/resp.hpp"
#include "conf/config.hpp"
#include "net/awaitable.hpp"

namespace drawbridge::cluster {

// A reply, or why there is none (the connection is then closed).
struct call_result {
  std::optional<reply> value;
  std::string error;
};

class redis_connection : public std::enable_shared_from_this<redis_connection> {
 public:
  using generic_socket = boost::asio::generic::stream_protocol::socket::rebind_executor<net_types::executor>::other;

  struct options {
    conf::redis_url url;
    std::string user;                                // empty: AUTH with the password alone (the default user)
    std::string password;                            // empty: no AUTH
    std::shared_ptr<boost::asio::ssl::context> tls;  // rediss://
    std::string tls_server_name;                     // SNI and the name the certificate must carry
    std::chrono::milliseconds timeout{2000};         // connect, TLS handshake, and each reply
  };

  static std::shared_ptr<redis_connection> create(net_types::executor ex, options opts);
  // Connects, authenticates, selects the database: empty, or what failed. close() (from anyone) makes it
  // fail at once.
  net_types::task<std::string> open();

  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  // One command; its reply (which may be a Redis error reply: check is_error()).
  net_types::task<call_result> call(std::vector<std::string> args);
  // Several, sent at once (one round trip); their replies in the same order.
  net_types::task<std::vector<call_result>> call_all(std::vector<std::vector<std::string>> commands);
  // Subscriber mode: SUBSCRIBE `channel`, after which call() is not used; next_push() returns each message
  // Redis pushes (["message", channel, payload]) as it arrives.
  net_types::task<call_result> subscribe(std::string channel);
  net_types::task<call_result> next_push();

  bool is_open() const { return open_; }
  // Why it closed; empty while it has not.
  const std::string& error() const { return error_; }
  // Subscriber mode: messages received and not taken yet.
  std::size_t queued() const { return pushes_.size(); }
  void close(const std::string& why);

  static constexpr std::size_t max_reply_bytes = 16u << 20;
  static constexpr std::size_t max_pushes = 4096;

 private:
  struct pending {
    explicit pending(net_types::executor ex) : done(ex) {}
    net_types::timer done;  // cancelled once `result` is in
    call_result result;
    bool answered = false;  // `result` is in (by a reply, or by close())
    std::chrono::steady_clock::time_point sent_at;
  };

  redis_connection(net_types::executor ex, options opts);
  net_types::task<std::string> connect();
  net_types::task<std::string> open_steps();
  // Every 100 ms until closed: the deadlines above, and a subscriber's PINGs.
  net_types::task<void> watchdog(std::shared_ptr<redis_connection> self);
  std::shared_ptr<pending> enqueue(const std::vector<std::string>& args);
  void send(const std::string& bytes);
  net_types::task<void> write_loop(std::shared_ptr<redis_connection> self);
  net_types::task<void> read_loop(std::shared_ptr<redis_connection> self);
  void deliver(reply r);
  void wake_push_waiter();

  net_types::executor ex_;
  options opts_;
  generic_socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  net_types::task<std::pair<boost::system::error_code, std::size_t>> read_some(boost::asio::mutable_buffer into);
  net_types::task<boost::system::error_code> write_all(boost::asio::const_buffer what);

  // One of the two: the socket itself, or TLS over it.
  std::optional<generic_socket> plain_;
  std::optional<boost::asio::ssl::stream<generic_socket>> tls_;
  bool open_ = false;
  bool closed_ = false;
  std::chrono::steady_clock::time_point opening_since_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ping_ = std::chrono::steady_clock::now();
  std::size_t unparsed_bytes_ = 0;  // fed since the last whole reply
  std::optional<boost::asio::ip::tcp::resolver::rebind_executor<net_types::executor>::other> resolver_;
  bool writing_ = false;
  bool subscriber_ = false;
  std::string out_;  // bytes to write
  std::string error_;
  reply_reader reader_;
  std::deque<std::shared_ptr<pending>> pending_;
  std::deque<reply> pushes_;
  std::shared_ptr<pending> push_waiter_;
  std::chrono::steady_clock::time_point last_heard_ = std::chrono::steady_clock::now();
};

}  // namespace drawbridge::cluster
