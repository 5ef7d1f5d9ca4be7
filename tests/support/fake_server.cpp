#include "tests/support/fake_server.hpp"

#include <sys/socket.h>

#include <memory>

namespace drawbridge::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;

fake_server::fake_server(connection_handler serve)
    : serve_(std::move(serve)), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  acceptor_thread_ = std::thread([this] { accept_loop(); });
}

fake_server::~fake_server() { stop(); }

std::uint64_t fake_server::connections() const {
  const std::lock_guard lock(mutex_);
  return connections_;
}

void fake_server::accept_loop() {
  for (;;) {
    auto socket = std::make_shared<tcp::socket>(ioc_);
    boost::system::error_code ec;
    acceptor_.accept(*socket, ec);
    if (ec) return;  // stop() shut the listening socket down
    const std::lock_guard lock(mutex_);
    if (stopping_) return;  // accepted just before the shutdown: closed unserved
    ++connections_;
    open_.insert(socket->native_handle());
    threads_.emplace_back([this, socket] {
      serve_(*socket);
      // Closed under the lock, once out of the list: stop() never shuts down a descriptor number that
      // something else has been given since.
      const std::lock_guard served(mutex_);
      open_.erase(socket->native_handle());
      boost::system::error_code ignored;
      socket->close(ignored);
    });
  }
}

void fake_server::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    for (const int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }
  acceptor_thread_.join();
  // The acceptor thread has ended: nothing adds threads any more.
  for (auto& t : threads_) t.join();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

}  // namespace drawbridge::testing
