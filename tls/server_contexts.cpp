#include "tls/server_contexts.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <string_view>

#include "tls/acme_challenges.hpp"
#include "tls/acme_files.hpp"
#include "tls/certificate.hpp"
#include "tls/self_signed.hpp"
#include "tls/ticket_keys.hpp"

namespace drawbridge::tls {

namespace ssl = boost::asio::ssl;

namespace {

// ALPN (RFC 7301): the first of our protocols (the listener's tls.alpn, in its order) that the client
// offers. A client that offers none of them gets no ALPN answer and may go on with HTTP/1.1 or give up
// (its choice, as RFC 7301 allows).
// RFC 8737's protocol: a CA validating TLS-ALPN-01 offers it alone.
constexpr std::string_view acme_tls_protocol = "acme-tls/1";

// Set on a handshake that is a TLS-ALPN-01 validation being answered (its certificate is the challenge's).
int challenge_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
bool answering_challenge(SSL* ssl) { return SSL_get_ex_data(ssl, challenge_index()) != nullptr; }

// The ClientHello's server name, read from the raw extension (the SNI callback has not run yet):
// list length (2), name type (1, 0 = host name), name length (2), name.
std::string client_hello_server_name(SSL* ssl) {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &size) != 1 || size < 5 || data[2] != 0) return {};
  const std::size_t length = (std::size_t{data[3]} << 8) | data[4];
  if (5 + length > size) return {};
  std::string name(reinterpret_cast<const char*>(data + 5), length);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name;
}

// Whether the ClientHello's ALPN list (length (2), then length-prefixed names) offers `protocol`.
bool client_hello_offers(SSL* ssl, std::string_view protocol) {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &size) != 1 || size < 2)
    return false;
  for (std::size_t i = 2; i < size;) {
    const std::size_t length = data[i];
    if (i + 1 + length > size) return false;
    if (std::string_view(reinterpret_cast<const char*>(data + i + 1), length) == protocol) return true;
    i += 1 + length;
  }
  return false;
}

// The first thing OpenSSL does with a ClientHello: when it offers "acme-tls/1" for a name whose TLS-ALPN-01
// challenge is open, this handshake presents the challenge certificate (and nothing else: no chain), and
// the SNI callback leaves it alone.
int answer_tls_alpn_challenge(SSL* ssl, int*, void*) {
  auto& challenges = acme_challenges::instance();
  if (!challenges.any_tls_alpn() || !client_hello_offers(ssl, acme_tls_protocol)) return SSL_CLIENT_HELLO_SUCCESS;
  const auto cert = challenges.tls_alpn_certificate(client_hello_server_name(ssl));
  if (!cert) return SSL_CLIENT_HELLO_SUCCESS;  // not ours to answer: the ALPN callback will refuse acme-tls/1
  // Only the challenge's certificate: an RSA one in another slot would otherwise be presented to a
  // validator that does not take ECDSA.
  SSL_certs_clear(ssl);
  if (SSL_use_certificate(ssl, cert->leaf.get()) != 1 || SSL_use_PrivateKey(ssl, cert->key.get()) != 1) {
    ERR_clear_error();
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  SSL_clear_chain_certs(ssl);
  static char marker;
  SSL_set_ex_data(ssl, challenge_index(), &marker);
  return SSL_CLIENT_HELLO_SUCCESS;
}

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void* arg) {
  if (answering_challenge(ssl)) {
    for (unsigned int i = 0; i < in_len;) {
      const unsigned len = in[i];
      if (i + 1 + len > in_len) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == acme_tls_protocol) {
        *out = in + i + 1;
        *out_len = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const auto& ours = static_cast<const server_contexts*>(arg)->alpn();
  for (const auto& protocol : ours) {
    for (unsigned int i = 0; i < in_len;) {
      const unsigned len = in[i];
      if (i + 1 + len > in_len) break;
      if (len == protocol.size() && std::equal(in + i + 1, in + i + 1 + len, protocol.begin())) {
        *out = in + i + 1;
        *out_len = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string last_openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

std::optional<std::string> server_contexts::add(const conf::listener_tls_config& config, const certificate& cert,
                                                certificate_summary summary) {
  const std::string& label = summary.source == "placeholder" ? std::string("the placeholder") : summary.cert_path;
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  // No compression (CRIME), no renegotiation (a client-driven CPU sink); the server's cipher order.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_min_proto_version(ctx, config.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  // An idle keep-alive connection should cost about a kilobyte: OpenSSL gives its record buffers back
  // between reads instead of holding 16 KiB or more per connection.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()) != 1)
    return "ciphers: OpenSSL accepts none of \"" + config.ciphers + "\" (" + last_openssl_error() + ")";
  if (SSL_CTX_use_certificate(ctx, cert.leaf.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, cert.key.get()) != 1)
    return label + ": OpenSSL refused the certificate (" + last_openssl_error() + ")";
  for (const auto& extra : cert.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1)
      return label + ": OpenSSL refused a chain certificate (" + last_openssl_error() + ")";
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, this);
  // Resumption both ways: a server-side session cache (TLS 1.2 session ids) and tickets.
  static constexpr unsigned char session_context[] = "drawbridge";
  SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
  // No automatic clearing: OpenSSL would walk the whole cache every 255 handshakes (measured: visible
  // in a new-connection benchmark). Expired entries are refused on lookup and the size cap evicts the
  // oldest.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
  SSL_CTX_sess_set_cache_size(ctx, 20'000);
  use_rotating_ticket_keys(ctx);

  // SNI: files win for the names they cover (a wildcard file's included); an ACME or placeholder
  // certificate answers only for the rest of its names.
  std::vector<std::string> sni_names;
  for (const auto& name : cert.names) {
    bool covered = false;
    for (std::size_t i = 0; i < summaries_.size() && summary.source != "file"; ++i)
      if (summaries_[i].source == "file")
        for (const auto& pattern : summaries_[i].names) covered = covered || name_matches(pattern, name);
    if (!covered) sni_names.push_back(name);
  }
  names_.push_back(std::move(sni_names));
  summary.subject = cert.subject;
  summary.issuer = cert.issuer;
  summary.names = cert.names;
  summary.not_before = cert.not_before;
  summary.not_after = cert.not_after;
  summaries_.push_back(std::move(summary));
  contexts_.push_back(std::move(context));
  return std::nullopt;
}

std::shared_ptr<const server_contexts> server_contexts::build(const conf::listener_tls_config& config,
                                                              std::string& error) {
  std::shared_ptr<server_contexts> set(new server_contexts());
  set->alpn_ = config.alpn;
  for (const auto& files : config.certificates) {
    auto loaded = load_certificate(files.cert, files.key, error);
    if (!loaded) return nullptr;
    if (auto refused = set->add(config, *loaded, {.cert_path = files.cert})) {
      error = *refused;
      return nullptr;
    }
  }
  if (config.acme) {
    // ACME never stops a listener from serving: what is stored if it is usable, else a placeholder until
    // the manager's first order completes (and rebuilds this set).
    const auto& acme = *config.acme;
    std::string why;
    std::error_code ignored;
    const bool exists = std::filesystem::exists(acme_certificate_path(acme), ignored);
    std::optional<certificate> stored;
    if (exists) stored = load_certificate_bundle(acme_certificate_path(acme), why);
    if (stored && stored->not_after <= std::chrono::system_clock::now()) {
      why = acme_certificate_path(acme) + ": expired";
      stored.reset();
    }
    if (stored) {
      if (auto refused = set->add(config, *stored, {.cert_path = acme_certificate_path(acme), .source = "acme"})) {
        why = *refused;
        stored.reset();
      }
    }
    if (!stored) {
      if (exists)
        spdlog::warn(
            "acme: {}: the stored certificate is not usable ({}): a placeholder is served until an order "
            "completes",
            acme.domains.front(), why);
      try {
        const auto placeholder = make_self_signed(acme.domains, std::chrono::hours(24 * 90));
        if (auto refused = set->add(config, placeholder, {.source = "placeholder"})) {
          error = *refused;
          return nullptr;
        }
      } catch (const std::exception& e) {
        error = std::string("acme: cannot make the placeholder certificate: ") + e.what();
        return nullptr;
      }
    }
  }
  if (set->contexts_.empty()) {
    error = "certificates: none configured";
    return nullptr;
  }
  // SNI is read by the context a handshake starts with: the default one. So is the ClientHello, where a
  // TLS-ALPN-01 validation shows itself.
  SSL_CTX* first = set->contexts_.front()->native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(first, set.get());
  SSL_CTX_set_client_hello_cb(first, answer_tls_alpn_challenge, nullptr);
  return set;
}

bool server_contexts::placeholder() const {
  return std::any_of(summaries_.begin(), summaries_.end(),
                     [](const certificate_summary& s) { return s.source == "placeholder"; });
}

int server_contexts::on_server_name(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const server_contexts*>(arg);
  if (answering_challenge(ssl)) return SSL_TLSEXT_ERR_OK;  // the challenge's certificate stays
  const char* requested = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!requested) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the default certificate
  std::string host(requested);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto index = select_certificate(self->names_, host);
  if (index != 0) SSL_set_SSL_CTX(ssl, self->contexts_[index]->native_handle());
  return SSL_TLSEXT_ERR_OK;
}

std::vector<std::string> server_contexts::expiring(std::chrono::system_clock::time_point now,
                                                   std::chrono::system_clock::duration within) const {
  std::vector<std::string> lines;
  for (const auto& s : summaries_) {
    if (s.not_after > now + within || s.source == "placeholder") continue;  // a placeholder: the order's due
    const std::time_t t = std::chrono::system_clock::to_time_t(s.not_after);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &utc);
    lines.push_back(s.subject + " (" + s.cert_path + ") " + (s.not_after <= now ? "expired on " : "expires on ") +
                    date);
  }
  return lines;
}

}  // namespace drawbridge::tls
