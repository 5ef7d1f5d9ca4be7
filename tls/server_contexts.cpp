#include "tls/server_contexts.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <ctime>

#include "tls/certificate.hpp"
#include "tls/ticket_keys.hpp"

namespace drawbridge::tls {

namespace ssl = boost::asio::ssl;

namespace {

// ALPN (RFC 7301): the first of our protocols (the listener's tls.alpn, in its order) that the client
// offers. A client that offers none of them gets no ALPN answer and may go on with HTTP/1.1 or give up
// (its choice, as RFC 7301 allows).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
                void* arg) {
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

std::shared_ptr<const server_contexts> server_contexts::build(const conf::listener_tls_config& config,
                                                              std::string& error) {
  std::shared_ptr<server_contexts> set(new server_contexts());
  set->alpn_ = config.alpn;
  for (const auto& files : config.certificates) {
    auto loaded = load_certificate(files.cert, files.key, error);
    if (!loaded) return nullptr;

    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* ctx = context->native_handle();
    // No compression (CRIME), no renegotiation (a client-driven CPU sink); the server's cipher order.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_min_proto_version(ctx, config.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    // An idle keep-alive connection should cost about a kilobyte: OpenSSL gives its record buffers back
    // between reads instead of holding 16 KiB or more per connection.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()) != 1) {
      error = "ciphers: OpenSSL accepts none of \"" + config.ciphers + "\" (" + last_openssl_error() + ")";
      return nullptr;
    }
    if (SSL_CTX_use_certificate(ctx, loaded->leaf.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, loaded->key.get()) != 1) {
      error = files.cert + ": OpenSSL refused the certificate (" + last_openssl_error() + ")";
      return nullptr;
    }
    for (const auto& extra : loaded->chain) {
      if (SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1) {
        error = files.cert + ": OpenSSL refused a chain certificate (" + last_openssl_error() + ")";
        return nullptr;
      }
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, set.get());
    // Resumption both ways: a server-side session cache (TLS 1.2 session ids) and tickets.
    static constexpr unsigned char session_context[] = "drawbridge";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    // No automatic clearing: OpenSSL would walk the whole cache every 255 handshakes (measured: visible
    // in a new-connection benchmark). Expired entries are refused on lookup and the size cap evicts the
    // oldest.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_cache_size(ctx, 20'000);
    use_rotating_ticket_keys(ctx);

    set->names_.push_back(loaded->names);
    set->summaries_.push_back({files.cert, loaded->subject, loaded->names, loaded->not_after});
    set->contexts_.push_back(std::move(context));
  }
  if (set->contexts_.empty()) {
    error = "certificates: none configured";
    return nullptr;
  }
  // SNI is read by the context a handshake starts with: the default one.
  SSL_CTX* first = set->contexts_.front()->native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(first, set.get());
  return set;
}

int server_contexts::on_server_name(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const server_contexts*>(arg);
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
    if (s.not_after > now + within) continue;
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
