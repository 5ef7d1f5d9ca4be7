#include "tests/support/mutual_tls_node.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace drawbridge::testing {

namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

mutual_tls_node::mutual_tls_node(const test_ca& ca, const pem_files& cert)
    : context_(ssl::context::tls_server), server_([this](tcp::socket& socket) { serve(socket); }) {
  context_.use_certificate_chain_file(cert.cert);
  context_.use_private_key_file(cert.key, ssl::context::pem);
  context_.load_verify_file(ca.ca_file());
  context_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
}

void mutual_tls_node::serve(tcp::socket& socket) {
  ssl::stream<tcp::socket&> stream(socket, context_);
  boost::system::error_code ec;
  stream.handshake(ssl::stream_base::server, ec);
  if (ec) return;  // no or a wrong client certificate
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> req;
  http::read(stream, buffer, req, ec);
  if (ec) return;
  X509* peer = SSL_get1_peer_certificate(stream.native_handle());
  char subject[256] = "";
  if (peer) X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
  X509_free(peer);
  http::response<http::string_body> res{http::status::ok, 11};
  res.body() = nlohmann::json{{"client", subject}}.dump();
  res.keep_alive(false);
  res.prepare_payload();
  http::write(stream, res, ec);
  stream.shutdown(ec);
  ++served_;
}

}  // namespace drawbridge::testing
