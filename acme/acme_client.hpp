#pragma once
// An ACME client (RFC 8555) for one order at a time: the CA's directory, the account (created, or found
// again from its key), a new order for the names, each authorization answered by HTTP-01 or TLS-ALPN-01,
// the finalization with a CSR for a fresh P-256 key, and the issued chain downloaded. Nonces are taken
// from every answer; a badNonce refusal is retried with the nonce it carries.
//
// Runs on the control thread's io_context. Every coroutine here takes references and every caller passes
// named objects that outlive the call (see https_client.hpp: no temporaries in a co_await expression). Failures are
// thrown as acme_failure (the caller, the ACME manager, catches them at the top of each attempt and decides the
// backoff).

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "acme/https_client.hpp"
#include "conf/config.hpp"
#include "net/awaitable.hpp"
#include "tls/certificate.hpp"

namespace drawbridge::acme {

class acme_failure : public std::runtime_error {
 public:
  // unreachable: no usable answer from the CA (network, TLS, its 5xx): no order was refused, retry soon.
  // refused: the CA said no (a problem document: bad contact, rejected identifier, failed validation,
  // rate limit): the next order waits long (RFC 8555 §6.6; Let's Encrypt's failed-validation limit).
  enum class kind { unreachable, refused };
  acme_failure(kind k, const std::string& message, std::optional<std::chrono::seconds> wait = std::nullopt,
               std::string problem = {})
      : std::runtime_error(message), what_kind(k), retry_after(wait), problem_type(std::move(problem)) {}
  kind what_kind;
  std::optional<std::chrono::seconds> retry_after;  // the CA's Retry-After, if it sent one
  std::string problem_type;                         // "urn:ietf:params:acme:error:..." when refused
};

// How a challenge's answer is put up and taken down (the ACME manager publishes to
// tls::acme_challenges). `name` is the identifier; `token` and `key_authorization` as RFC 8555 §8.1.
struct challenge_hooks {
  std::function<void(const std::string& name, const std::string& token, const std::string& key_authorization)> publish;
  std::function<void(const std::string& name, const std::string& token)> withdraw;
  // How long to wait after publishing before the CA is told to look (others must take the answer too).
  std::chrono::milliseconds settle{0};
};

struct order_request {
  std::vector<std::string> domains;
  std::string challenge;  // "http-01" or "tls-alpn-01"
  std::string email;
  std::optional<conf::acme_eab_config> eab;
};

struct issued_certificate {
  std::string chain_pem;  // leaf first
  std::string key_pem;
};

class acme_client {
 public:
  // `trust` verifies the CA's HTTPS; `account_key` signs every request (a P-256 key; not owned).
  acme_client(boost::asio::ssl::context& trust, std::string directory_url, EVP_PKEY* account_key);

  // The whole order. The issued chain is checked (parses, matches its key, names every domain) before it
  // is returned.
  net_types::task<issued_certificate> obtain(const order_request& order, const challenge_hooks& hooks);

  // obtain() got as far as placing an order (a failure after that counts against the CA's limits).
  bool order_placed() const { return order_placed_; }

  // Per request to the CA.
  static constexpr std::chrono::seconds request_timeout{30};
  // How long an authorization or the order may stay pending or processing.
  static constexpr std::chrono::seconds settle_limit{180};

 private:
  net_types::task<void> load_directory();
  net_types::task<void> register_account(const order_request& order);
  // A JWS-signed POST (`payload` empty: POST-as-GET). Retries badNonce; throws acme_failure on any
  // other error answer.
  net_types::task<https_reply> post(const std::string& url, const std::string& payload, const std::string& accept);
  net_types::task<std::string> fresh_nonce();
  net_types::task<void> authorize(const std::string& authorization_url, const std::string& challenge_type,
                                  const std::vector<std::string>& domains, const challenge_hooks& hooks);
  // POST-as-GET `url` until its status leaves pending/processing (or settle_limit passes); the object.
  net_types::task<nlohmann::json> await_settled(const std::string& url);
  std::string endpoint(const char* name) const;

  boost::asio::ssl::context& trust_;
  std::string directory_url_;
  EVP_PKEY* account_key_;
  nlohmann::json directory_;
  std::string nonce_;
  std::string kid_;  // the account's URL, once known
  bool order_placed_ = false;
};

// A CSR (DER) for `domains` (subjectAltName; the first is also the CN) signed by `key`.
std::string make_csr(EVP_PKEY* key, const std::vector<std::string>& domains);

}  // namespace drawbridge::acme
