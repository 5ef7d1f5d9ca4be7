#include "tests/support/tls_client.hpp"

#include <openssl/bn.h>
#include <openssl/x509.h>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace drawbridge::testing {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct tls_client::impl {
  net::io_context io;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<tcp::socket>> stream;
  boost::beast::flat_buffer buffer;
  bool connected = false;
  std::string error;
};

tls_client::tls_client(std::uint16_t port, const tls_options& options) : impl_(std::make_unique<impl>()) {
  SSL_CTX* ctx = impl_->ctx.native_handle();
  if (options.min_version || options.max_version) {
    // Old protocol versions are refused by OpenSSL's default security level before any server sees them.
    SSL_CTX_set_security_level(ctx, 0);
    if (options.min_version) SSL_CTX_set_min_proto_version(ctx, options.min_version);
    if (options.max_version) SSL_CTX_set_max_proto_version(ctx, options.max_version);
  }
  if (!options.ca_file.empty()) {
    impl_->ctx.load_verify_file(options.ca_file);
    impl_->ctx.set_verify_mode(ssl::verify_peer);
  } else {
    impl_->ctx.set_verify_mode(ssl::verify_none);
  }
  if (!options.offer_alpn.empty()) {
    const std::string wire = static_cast<char>(options.offer_alpn.size()) + options.offer_alpn;
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  } else if (options.offer_alpn_http11) {
    static constexpr unsigned char protos[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, protos, sizeof protos - 1);
  }
  impl_->stream = std::make_unique<ssl::stream<tcp::socket>>(impl_->io, impl_->ctx);
  if (!options.sni.empty()) SSL_set_tlsext_host_name(impl_->stream->native_handle(), options.sni.c_str());
  if (options.resume) SSL_set_session(impl_->stream->native_handle(), options.resume.get());
  boost::system::error_code ec;
  auto& socket = impl_->stream->next_layer();
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    impl_->error = "connect: " + ec.message();
    return;
  }
  timeval tv{10, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  impl_->stream->handshake(ssl::stream_base::client, ec);
  if (ec) {
    impl_->error = "handshake: " + ec.message();
    return;
  }
  impl_->connected = true;
}

tls_client::~tls_client() {
  // A clean close (close_notify sent), as real clients do: OpenSSL marks the session of a connection
  // dropped without one as not resumable.
  if (impl_->connected) SSL_shutdown(impl_->stream->native_handle());
}

int tls_client::native_socket() const { return impl_->stream->next_layer().native_handle(); }

bool tls_client::connected() const { return impl_->connected; }
const std::string& tls_client::error() const { return impl_->error; }
std::string tls_client::version() const { return SSL_get_version(impl_->stream->native_handle()); }
bool tls_client::session_reused() const { return SSL_session_reused(impl_->stream->native_handle()) == 1; }

std::shared_ptr<SSL_SESSION> tls_client::session() const {
  return std::shared_ptr<SSL_SESSION>(SSL_get1_session(impl_->stream->native_handle()), SSL_SESSION_free);
}

std::string tls_client::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(impl_->stream->native_handle(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string tls_client::peer_subject() const {
  X509* cert = SSL_get1_peer_certificate(impl_->stream->native_handle());
  if (!cert) return {};
  char text[512];
  X509_NAME_oneline(X509_get_subject_name(cert), text, sizeof text);
  X509_free(cert);
  return text;
}

std::string tls_client::peer_issuer() const {
  X509* cert = SSL_get1_peer_certificate(impl_->stream->native_handle());
  if (!cert) return {};
  char text[512];
  X509_NAME_oneline(X509_get_issuer_name(cert), text, sizeof text);
  X509_free(cert);
  return text;
}

std::string tls_client::peer_serial() const {
  X509* cert = SSL_get1_peer_certificate(impl_->stream->native_handle());
  if (!cert) return {};
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = serial ? BN_bn2hex(serial) : nullptr;
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(serial);
  X509_free(cert);
  return out;
}

http_response tls_client::request(http::verb method, const std::string& target,
                                  const std::vector<std::pair<std::string, std::string>>& headers, std::string body) {
  http_response out;
  if (!impl_->connected) {
    out.error = impl_->error;
    return out;
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "localhost");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();
  boost::system::error_code ec;
  http::write(*impl_->stream, req, ec);
  if (ec) {
    out.error = "write: " + ec.message();
    return out;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http::read(*impl_->stream, impl_->buffer, parser, ec);
  auto res = parser.release();
  if (ec) {
    out.error = "read: " + ec.message();
    return out;
  }
  out.status = res.result_int();
  out.headers = res.base();
  out.body = std::move(res.body());
  out.keep_alive = res.keep_alive();
  return out;
}

}  // namespace drawbridge::testing
