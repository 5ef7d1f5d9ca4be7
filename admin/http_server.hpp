#pragma once
// A small HTTP/1.1 server for the admin API on the control thread's io_context: keep-alive, a header of at
// most 16 KiB, a body of at most 64 KiB (and only JSON), 30 s to send a request. Not the data plane: it
// favours simplicity over speed (Beast's string bodies, one coroutine per connection).
//
// A request is read in two steps. After its header, `admit` decides (Host, browsers, token) and a refusal
// is sent without reading the body; then the body is read and `handle` answers. Everything buffered for a
// connection is capped, so a chunk line or a trailer that never ends costs at most that cap.
//
// Control thread only.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "net/awaitable.hpp"
#include "net/owned_fd.hpp"

namespace drawbridge::admin {

namespace http = boost::beast::http;
using request_head = http::request_header<>;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// What `admit` decided about a request from its header alone.
struct admission {
  std::optional<response> refused;  // set: sent as is; the body is never read and the connection closes
  std::string caller = "-";         // who asks (the token's name), handed on to `handle`
};
// `client` is "address:port" of the peer, for logs.
using admit_handler = std::function<admission(const request_head& head, const std::string& client)>;
using handler =
    std::function<net_types::task<response>(const request& req, const std::string& client, const std::string& caller)>;

class http_server {
 public:
  http_server(boost::asio::io_context& io, admit_handler admit, handler h);
  ~http_server();

  // Throws boost::system::system_error when the address cannot be bound.
  void listen(const boost::asio::ip::tcp::endpoint& endpoint);
  // Accepts on `fd`, a listening socket bound already (a binary upgrade's successor takes the old
  // process's). Throws boost::system::system_error.
  void adopt(owned_fd fd, boost::asio::ip::tcp protocol);
  // A copy (dup) of the listening socket, for a binary upgrade's successor; none when not listening.
  // Throws std::system_error (out of descriptors).
  owned_fd duplicate_listener();
  // New connections are left to whoever else accepts on the socket (a successor); open ones go on.
  void stop_accepting();
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  void start();
  // Stops accepting and closes every connection (an admin call waiting on a drain ends with it).
  void stop();

 private:
  using parser = http::request_parser<http::string_body>;
  // Runs the accept loop (after `delay`), and again should an exception escape it.
  void spawn_accept_loop(std::chrono::milliseconds delay);
  net_types::task<void> accept_loop(std::chrono::milliseconds delay);
  net_types::task<void> serve(std::shared_ptr<net_types::socket> socket);
  // The answer to a request that must not be read further (admission refused it, or its body may not
  // come), or nullopt to read its body. Sets `caller` when admitted.
  std::optional<response> screen(const parser& p, const std::string& client, std::string& caller) const;
  // Closes a connection whose request was not read to its end (see the .cpp).
  net_types::task<void> linger_close(std::shared_ptr<net_types::socket> socket);

  boost::asio::io_context& io_;
  admit_handler admit_;
  handler handler_;
  net_types::acceptor acceptor_;
  std::set<std::shared_ptr<net_types::socket>> open_;
  bool stopped_ = false;
};

}  // namespace drawbridge::admin
