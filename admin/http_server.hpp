#pragma once
// A small HTTP/1.1 server for the admin API on the control thread's io_context: keep-alive, requests of
// at most 64 KiB, 30 s to send a request, one handler for everything. Not the data plane: it favours
// simplicity over speed (Beast's string bodies, one coroutine per connection).
//
// Control thread only.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "net/awaitable.hpp"

namespace drawbridge::admin {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
// `client` is "address:port" of the peer, for the audit log.
using handler = std::function<net_types::task<response>(const request& req, const std::string& client)>;

class http_server {
 public:
  http_server(boost::asio::io_context& io, handler h);
  ~http_server();

  // Throws boost::system::system_error when the address cannot be bound.
  void listen(const boost::asio::ip::tcp::endpoint& endpoint);
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  void start();
  // Stops accepting and closes every connection (an admin call waiting on a drain ends with it).
  void stop();

 private:
  net_types::task<void> accept_loop();
  net_types::task<void> serve(std::shared_ptr<net_types::socket> socket);

  boost::asio::io_context& io_;
  handler handler_;
  net_types::acceptor acceptor_;
  std::set<std::shared_ptr<net_types::socket>> open_;
  bool stopped_ = false;
};

}  // namespace drawbridge::admin
