#pragma once
// A blocking TLS client for the tests: handshake with chosen protocol versions and SNI, then HTTP/1.1
// requests on the same connection; reports what the handshake showed (version, ALPN, the server's
// certificate subject). 127.0.0.1 only, socket timeouts on every call.

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tests/support/test_client.hpp"

namespace drawbridge::testing {

struct tls_options {
  std::string sni;      // empty = no SNI
  int min_version = 0;  // e.g. TLS1_2_VERSION; 0 = OpenSSL's default
  int max_version = 0;  // 0 = OpenSSL's default
  std::string ca_file;  // set = verify the server against it
  bool offer_alpn_http11 = true;
  std::string offer_alpn;               // set: offer this one protocol instead (e.g. "acme-tls/1")
  std::shared_ptr<SSL_SESSION> resume;  // offer this session (from session() of an earlier client)
};

class tls_client {
 public:
  tls_client(std::uint16_t port, const tls_options& options = {});
  ~tls_client();

  bool connected() const;            // the handshake completed
  const std::string& error() const;  // why not
  std::string version() const;       // "TLSv1.3"
  std::string alpn() const;          // "http/1.1" or empty
  std::string peer_subject() const;  // "/O=drawbridge tests/CN=a.test"
  std::string peer_issuer() const;   // the same for its issuer
  std::string peer_serial() const;   // hex: tells two certificates of the same subject apart
  bool session_reused() const;
  // The session to resume later; read it after a request, once the server's tickets have arrived.
  std::shared_ptr<SSL_SESSION> session() const;

  // One request and its response on this connection (Content-Length or chunked bodies).
  http_response request(boost::beast::http::verb method, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {}, std::string body = {});
  http_response get(const std::string& target) { return request(boost::beast::http::verb::get, target); }
  // The TCP socket under TLS, for tests that write raw bytes past OpenSSL (a record cut short).
  int native_socket() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace drawbridge::testing
