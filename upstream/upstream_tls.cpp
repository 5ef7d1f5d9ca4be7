#include "upstream/upstream_tls.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

namespace drawbridge::upstream {

bool has_buffered_input(upstream_tls& tls) {
  SSL* ssl = tls.stream.native_handle();
  return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

net_types::task<boost::system::error_code> start_tls(upstream_connection& connection,
                                                     boost::asio::ssl::context& context,
                                                     const std::string& server_name) {
  connection.tls = std::make_unique<upstream_tls>(connection.socket, context);
  auto& stream = connection.tls->stream;
  boost::system::error_code ec;
  boost::asio::ip::make_address(server_name, ec);
  const bool is_ip = !ec;
  // RFC 6066: SNI carries host names, never IP literals.
  if (!is_ip) SSL_set_tlsext_host_name(stream.native_handle(), server_name.c_str());
  if (SSL_CTX_get_verify_mode(context.native_handle()) != SSL_VERIFY_NONE)
    stream.set_verify_callback(boost::asio::ssl::host_name_verification(server_name));
  auto [handshake_ec] = co_await stream.async_handshake(boost::asio::ssl::stream_base::client, net_types::use_tuple);
  co_return handshake_ec;
}

}  // namespace drawbridge::upstream
