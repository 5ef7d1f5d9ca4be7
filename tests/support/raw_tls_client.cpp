#include "tests/support/raw_tls_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <vector>

namespace drawbridge::testing {

bool raw_tls_client::connect(std::uint16_t port, int receive_buffer) {
  socket.open(boost::asio::ip::tcp::v4());
  if (receive_buffer) socket.set_option(boost::asio::socket_base::receive_buffer_size(receive_buffer));
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  timeval limit{5, 0};  // only a bound for a broken proxy
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  ssl.reset(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), socket.native_handle());
  SSL_set_tlsext_host_name(ssl.get(), "a.test");
  return SSL_connect(ssl.get()) == 1;
}

bool raw_tls_client::send(const std::string& bytes) {
  return SSL_write(ssl.get(), bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
}

std::string raw_tls_client::read_all(int& last) {
  std::string out;
  std::vector<char> chunk(16384);
  while ((last = SSL_read(ssl.get(), chunk.data(), static_cast<int>(chunk.size()))) > 0)
    out.append(chunk.data(), static_cast<std::size_t>(last));
  return out;
}

}  // namespace drawbridge::testing
