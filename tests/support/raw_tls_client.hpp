#pragma once
// A blocking OpenSSL client on a plain socket, for tests that need what tls_client hides: the TCP close,
// the record layer, a small receive buffer. TLS 1.3 only, SNI "a.test", no certificate check; 127.0.0.1.

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace drawbridge::testing {

struct raw_tls_client {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket{ioc};
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_client_method()), SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{nullptr, SSL_free};

  // `receive_buffer`: SO_RCVBUF set before connecting (0: the system's). Reads time out after 5 s.
  bool connect(std::uint16_t port, int receive_buffer = 0);
  bool send(const std::string& bytes);
  // Reads until the stream ends; returns the bytes and leaves the last SSL_read result in `last`.
  std::string read_all(int& last);
};

}  // namespace drawbridge::testing
