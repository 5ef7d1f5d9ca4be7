#pragma once
// Certificates for TLS tests, made with the OpenSSL API in a temporary directory: a CA, and leaf
// certificates it signs with the names a test needs (RSA or ECDSA P-256), valid for a chosen time.

#include <string>
#include <vector>

namespace drawbridge::testing {

struct pem_files {
  std::string cert;  // PEM chain: the leaf (and nothing else: the CA is the test's trust anchor)
  std::string key;   // PEM private key
};

enum class key_kind { rsa, ecdsa };

class test_ca {
 public:
  test_ca();  // a fresh CA "drawbridge test CA" in a fresh temporary directory
  ~test_ca();
  test_ca(const test_ca&) = delete;
  test_ca& operator=(const test_ca&) = delete;

  const std::string& ca_file() const { return ca_file_; }  // the CA certificate, PEM
  const std::string& dir() const { return dir_; }

  // A leaf certificate with subject CN `common_name` and these subjectAltNames (DNS names, or "IP:a.b.c.d"
  // for an address), valid from an hour ago
  // for `days` days (negative: already expired). Files are named after `file_stem`.
  pem_files issue(const std::string& file_stem, const std::string& common_name, const std::vector<std::string>& dns,
                  key_kind kind = key_kind::ecdsa, int days = 30) const;

 private:
  struct impl;
  impl* impl_;
  std::string dir_;
  std::string ca_file_;
};

}  // namespace drawbridge::testing
