#pragma once
// Pebble, Let's Encrypt's test-only ACME server (Debian's pebble), for the ACME tests: on 127.0.0.1 with
// its own HTTPS certificate from a test CA, and pebble-challtestsrv as its DNS server, answering every
// name with 127.0.0.1, so that the CA validates names such as appsmith.test against the proxy's
// listeners (set_validation_ports: where it connects for HTTP-01 and TLS-ALPN-01). Started by the test,
// stopped with it. Pebble makes a new issuing CA at every start: root_pem() is the one to verify with.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_certs.hpp"

namespace drawbridge::testing {

class pebble_server {
 public:
  pebble_server();
  ~pebble_server();
  pebble_server(const pebble_server&) = delete;
  pebble_server& operator=(const pebble_server&) = delete;

  // Before start(): where Pebble's validator connects (drawbridge's plain and TLS listeners).
  void set_validation_ports(std::uint16_t http, std::uint16_t tls) {
    http_port_ = http;
    tls_port_ = tls;
  }
  // Before start(): External Account Binding required, with these key ids and base64url MAC keys.
  void require_eab(std::map<std::string, std::string> keys) { eab_keys_ = std::move(keys); }
  // Before start(): the share of good nonces Pebble rejects as badNonce on purpose (its default is 5).
  void set_nonce_rejection(int percent) { nonce_reject_percent_ = percent; }

  // Starts both programs and waits (up to 20 s) until the directory answers. False with error() when
  // they are not installed or did not come up.
  bool start();
  void stop();
  bool running() const { return pebble_pid_ > 0; }

  // The directory URL drawbridge's acme.directory takes, and the CA file that trusts Pebble's HTTPS.
  std::string directory_url() const { return "https://127.0.0.1:" + std::to_string(acme_port_) + "/dir"; }
  const std::string& ca_file() const { return ca_.ca_file(); }
  // The root of the certificates Pebble issues now, PEM (written to a file: root_file()).
  std::string root_file();
  // Makes `host` resolve to `ip` for the validator (instead of 127.0.0.1).
  bool add_a_record(const std::string& host, const std::string& ip);
  const std::string& error() const { return error_; }
  std::string log() const;

 private:
  test_ca ca_;
  scratch_dir dir_;
  std::uint16_t acme_port_, management_port_, dns_port_, challtestsrv_port_;
  std::uint16_t http_port_ = 0, tls_port_ = 0;
  std::map<std::string, std::string> eab_keys_;
  int nonce_reject_percent_ = 0;
  pid_t pebble_pid_ = -1, dns_pid_ = -1;
  std::string error_;
};

}  // namespace drawbridge::testing
