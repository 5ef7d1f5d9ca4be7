#include "tls/client_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/certificate.hpp"

namespace drawbridge::tls {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> build_client_context(const conf::upstream_tls_config& config, std::string& error) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  static constexpr unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  boost::system::error_code ec;
  if (config.verify) {
    if (config.ca_file.empty())
      context->set_default_verify_paths(ec);
    else
      context->load_verify_file(config.ca_file, ec);
    if (ec) {
      error = (config.ca_file.empty() ? std::string("the system's trusted roots") : config.ca_file) +
              ": cannot load CA certificates (" + ec.message() + ")";
      return nullptr;
    }
    context->set_verify_mode(ssl::verify_peer);
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  if (!config.client_cert.empty()) {
    auto loaded = load_certificate(config.client_cert, config.client_key, error);
    if (!loaded) return nullptr;
    if (SSL_CTX_use_certificate(ctx, loaded->leaf.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, loaded->key.get()) != 1) {
      ERR_clear_error();
      error = config.client_cert + ": OpenSSL refused the client certificate";
      return nullptr;
    }
    for (const auto& extra : loaded->chain) SSL_CTX_add1_chain_cert(ctx, extra.get());
  }
  return context;
}

}  // namespace drawbridge::tls
