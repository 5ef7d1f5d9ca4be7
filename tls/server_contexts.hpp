#pragma once
// The TLS side of one HTTPS listener: an SSL context per certificate (the configured files first, then
// the ACME one: stored, or a placeholder until the first order completes; the first is the default),
// modern settings, ALPN (h2 and http/1.1 as configured), a session cache and rotating session tickets, an
// SNI callback that moves each handshake to the certificate naming the requested host, and the
// TLS-ALPN-01 answer (a handshake offering only "acme-tls/1" for a name being validated gets the
// challenge certificate; tls/acme_challenges.hpp).
//
// Immutable once built. A reload builds a new one and swaps it in (see listener_tls); handshakes keep the
// one they started with (a session holds it through a shared_ptr), so nothing in progress is disturbed.

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "tls/certificate.hpp"

namespace drawbridge::tls {

struct certificate_summary {
  std::string cert_path{};  // the file; for a placeholder, empty
  // "file" (configured certificates), "acme" (ordered and stored under acme.storage) or "placeholder" (an
  // ACME listener whose first order has not completed: self-signed, browsers warn).
  std::string source = "file";
  std::string subject{};
  std::string issuer{};
  std::vector<std::string> names{};
  std::chrono::system_clock::time_point not_before{};
  std::chrono::system_clock::time_point not_after{};
};

class server_contexts {
 public:
  // Loads every certificate and builds the contexts. nullptr with `error` naming the file and the problem
  // ("certs/a.pem: no PEM certificate in the file", "certs/a.key: the key does not match ...").
  static std::shared_ptr<const server_contexts> build(const conf::listener_tls_config& config, std::string& error);

  // The context new handshakes start with; SNI may move them to another one of this set.
  boost::asio::ssl::context& default_context() const { return *contexts_.front(); }
  const std::vector<certificate_summary>& certificates() const { return summaries_; }
  // The protocols ALPN offers, in preference order ("h2", "http/1.1").
  const std::vector<std::string>& alpn() const { return alpn_; }

  // The names SNI picks certificate `index` for (a file's all; ACME's those no file covers).
  const std::vector<std::string>& sni_names(std::size_t index) const { return names_.at(index); }
  // An ACME listener serves a self-signed placeholder: nothing ordered is stored yet.
  bool placeholder() const;

  // Certificates expiring before `now + within`, as "subject (file) expires on DATE" lines.
  std::vector<std::string> expiring(std::chrono::system_clock::time_point now,
                                    std::chrono::system_clock::duration within) const;

 private:
  server_contexts() = default;
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  // Adds a context serving `cert`, with the listener's settings; the problem, if OpenSSL refuses it.
  std::optional<std::string> add(const conf::listener_tls_config& config, const certificate& cert,
                                 certificate_summary summary);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
  std::vector<std::vector<std::string>> names_;  // per context, for SNI
  std::vector<certificate_summary> summaries_;
  std::vector<std::string> alpn_;
};

}  // namespace drawbridge::tls
