#pragma once
// The ACME challenges this process answers right now (RFC 8555 §8.3, RFC 8737): the HTTP-01 key
// authorizations by token, and the TLS-ALPN-01 certificates by name. The ACME manager (control thread)
// publishes one before it tells the CA to validate and withdraws it once the authorization is decided;
// the workers read them, for a request to /.well-known/acme-challenge/<token> or a handshake offering
// ALPN "acme-tls/1".
//
// Process-wide: a token or name is the CA's and the domain's, not a listener's, and the CA may come to
// any listener. Readers take an immutable snapshot (one atomic load); writers replace it whole.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "tls/certificate.hpp"

namespace drawbridge::tls {

class acme_challenges {
 public:
  static acme_challenges& instance();

  void add_http(const std::string& token, const std::string& key_authorization);
  void remove_http(const std::string& token);
  // The key authorization to answer for `token`, if it is being validated.
  std::optional<std::string> http_answer(std::string_view token) const;

  void add_tls_alpn(const std::string& name, std::shared_ptr<const certificate> cert);
  void remove_tls_alpn(const std::string& name);
  // The challenge certificate for `name` (lower-case), if one is being validated.
  std::shared_ptr<const certificate> tls_alpn_certificate(std::string_view name) const;
  // Any TLS-ALPN-01 challenge is open (a handshake's fast path: almost always false).
  bool any_tls_alpn() const { return tls_alpn_open_.load(std::memory_order_relaxed) != 0; }

 private:
  struct snapshot {
    std::map<std::string, std::string, std::less<>> http;
    std::map<std::string, std::shared_ptr<const certificate>, std::less<>> tls_alpn;
  };
  template <typename Edit>
  void change(Edit edit);

  std::mutex writers_;
  std::atomic<std::shared_ptr<const snapshot>> current_{std::make_shared<const snapshot>()};
  std::atomic<std::size_t> tls_alpn_open_{0};
};

}  // namespace drawbridge::tls
