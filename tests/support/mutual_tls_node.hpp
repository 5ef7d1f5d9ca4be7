#pragma once
// A TLS node that insists on a client certificate signed by the test's CA: it answers one request per
// connection with {"client":"<the client certificate's subject>"} and closes. On 127.0.0.1:0, stopping
// as every fake server does (fake_server.hpp).

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>

#include "tests/support/fake_server.hpp"
#include "tests/support/test_certs.hpp"

namespace drawbridge::testing {

class mutual_tls_node {
 public:
  // `cert`: the node's own certificate; client certificates must chain to `ca`.
  mutual_tls_node(const test_ca& ca, const pem_files& cert);
  std::uint16_t port() const { return server_.port(); }
  int served() const { return served_.load(); }  // requests answered (each after a verified handshake)

 private:
  void serve(boost::asio::ip::tcp::socket& socket);

  boost::asio::ssl::context context_;
  std::atomic<int> served_{0};
  fake_server server_;  // last: its threads are joined before the members above go away
};

}  // namespace drawbridge::testing
