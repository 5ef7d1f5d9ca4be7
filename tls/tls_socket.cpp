#include "tls/tls_socket.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <cstdint>
#include <new>
#include "net/io_now.hpp"

namespace drawbridge::tls {

namespace {

// The BIO OpenSSL reads and writes through: recv/send on the socket, non-blocking. send() with
// MSG_NOSIGNAL, so a client that went away gives EPIPE rather than a SIGPIPE (OpenSSL's own socket BIO
// uses write()). The BIO's data is the tls_socket (re-pointed when one is moved).
net_types::socket& socket_of(BIO* bio) { return static_cast<tls_socket*>(BIO_get_data(bio))->lowest_layer(); }

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const auto n = ::send(socket_of(bio).native_handle(), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && would_block(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  // recv_now also tells the reactor what the read saw: OpenSSL reads ahead (whole socket reads), so a
  // short read emptied the socket, and EAGAIN found it empty.
  boost::system::error_code ec;
  const auto n = net_types::recv_now(socket_of(bio), boost::asio::buffer(data, static_cast<std::size_t>(size)), ec);
  if (n > 0) return static_cast<int>(n);
  if (ec == boost::asio::error::eof) {
    BIO_set_flags(bio, BIO_FLAGS_IN_EOF);  // the peer closed: OpenSSL asks BIO_eof() to tell an unexpected
    return 0;                              // end from an error
  }
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::interrupted)
    BIO_set_retry_read(bio);
  else
    errno = ec.value();  // a socket error: OpenSSL and classify() read it from errno
  return -1;
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH:  // nothing is buffered here
      return 1;
    case BIO_CTRL_EOF:
      return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0;
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "drawbridge socket");
    if (!m) return m;
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace

tls_socket::tls_socket(socket s, SSL_CTX* ctx) : socket_(std::move(s)) {
  const BIO_METHOD* method = socket_bio_method();
  ssl_ = method ? SSL_new(ctx) : nullptr;
  BIO* bio = ssl_ ? BIO_new(method) : nullptr;
  if (!bio) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // the SSL object owns the BIO from here
  SSL_set_accept_state(ssl_);
  // Read whole socket reads into OpenSSL's buffer instead of a record header, then its body: one recv
  // per arrival instead of two.
  SSL_set_read_ahead(ssl_, 1);
  // A write retried after WANT_WRITE may come from a buffer that moved (the same bytes).
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);  // the BIO's recv/send must never block the worker
}

tls_socket::tls_socket(tls_socket&& other) noexcept
    : socket_(std::move(other.socket_)), ssl_(other.ssl_), write_failed_(other.write_failed_) {
  other.ssl_ = nullptr;
  if (ssl_) BIO_set_data(SSL_get_rbio(ssl_), this);  // the BIO finds its socket through its tls_socket
}

tls_socket::~tls_socket() { SSL_free(ssl_); }

int tls_socket::do_handshake::call(SSL* ssl, std::size_t&) const {
  ERR_clear_error();
  return SSL_do_handshake(ssl);
}

int tls_socket::do_shutdown::call(SSL* ssl, std::size_t&) const {
  // Mark the peer's close_notify as received: SSL_shutdown then completes once ours is out.
  SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
  ERR_clear_error();
  const int r = SSL_shutdown(ssl);
  return r == 0 ? 1 : r;  // 0: ours is out, theirs not awaited (async_shutdown marked it received)
}

int tls_socket::do_read::call(SSL* ssl, std::size_t& n) const {
  if (buffer.size() == 0) return 1;  // an empty read completes at once, with 0 bytes
  ERR_clear_error();
  return SSL_read_ex(ssl, buffer.data(), buffer.size(), &n);
}

int tls_socket::do_write::call(SSL* ssl, std::size_t& n) const {
  if (size == 0) return 1;
  ERR_clear_error();
  return SSL_write_ex(ssl, data, size, &n);
}

bool tls_socket::usable(bool writes, boost::system::error_code& ec) const {
  if (!socket_.is_open())
    ec = boost::asio::error::bad_descriptor;
  else if (writes && write_failed_)
    ec = boost::asio::error::broken_pipe;
  return !ec;
}

// One OpenSSL call, now: what it moved, or 0 with `ec`: would_block when it waits for the direction it
// works in, in_progress when OpenSSL needs the other direction first, or the error (after which a write
// leaves the stream unusable for writing, as an asynchronous one does).
template <typename Action>
std::size_t tls_socket::now(const Action& action, boost::system::error_code& ec) {
  ec = {};
  if (!usable(Action::writes, ec)) return 0;
  std::size_t n = 0;
  errno = 0;
  const int r = action.call(ssl_, n);
  const int saved_errno = errno;
  if (r > 0) return n;
  const next step = classify(r, saved_errno, ec);
  if (step == (Action::writes ? next::wait_write : next::wait_read))
    ec = boost::asio::error::would_block;
  else if (step != next::finish)
    ec = boost::asio::error::in_progress;
  else if (Action::writes)
    write_failed_ = true;
  return 0;
}

std::size_t tls_socket::read_some_now(boost::asio::mutable_buffer buffer, boost::system::error_code& ec) {
  return now(do_read{buffer}, ec);
}

std::size_t tls_socket::write_some_now(boost::asio::const_buffer buffer, boost::system::error_code& ec) {
  return now(do_write{buffer.data(), buffer.size()}, ec);
}

tls_socket::next tls_socket::classify(int result, int saved_errno, boost::system::error_code& ec) const {
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      return next::wait_read;
    case SSL_ERROR_WANT_WRITE:
      return next::wait_write;
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      ec = boost::asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      // No OpenSSL error: the socket failed (errno), or the peer closed it without close_notify.
      if (saved_errno != 0 && ERR_peek_error() == 0)
        ec = boost::system::error_code(saved_errno, boost::system::system_category());
      else
        ec = boost::asio::ssl::error::stream_truncated;
      break;
    default: {
      const unsigned long code = ERR_peek_last_error();
      if (code == 0)  // a result no callback of ours asks for (X509 lookup, async): never success
        ec = boost::asio::ssl::error::unexpected_result;
      else if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        ec = boost::asio::ssl::error::stream_truncated;
      else
        ec = boost::system::error_code(static_cast<int>(code), boost::asio::error::get_ssl_category());
      break;
    }
  }
  ERR_clear_error();
  return next::finish;
}

}  // namespace drawbridge::tls
