#pragma once
// A TLS stream over a worker socket, for client connections: OpenSSL reads and writes the socket itself
// (a small BIO doing recv/send), and the stream waits for readiness only when OpenSSL says it must.
//
// Why not asio::ssl::stream: that one runs OpenSSL against an in-memory BIO pair and shuttles bytes between
// the pair and its own two 17 KiB buffers. Per request that is two extra copies and a chain of completion
// handlers; per connection it is about 70 KiB allocated (34 KiB of it zero-filled) that an idle keep-alive
// connection holds for its whole life. Here an idle connection holds OpenSSL's state only (its record
// buffers are released between reads: SSL_MODE_RELEASE_BUFFERS).
//
// The socket must not be used for I/O behind the stream's back, except after the TLS close (the lingering
// close drains the raw socket). Operations never complete inside the call that starts them: a result
// available at once is posted, as Asio's own operations do.

#include <openssl/ssl.h>

#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>
#include <type_traits>

#include "net/stream.hpp"

namespace drawbridge::tls {

class tls_socket {
 public:
  using socket = net_types::socket;
  using executor_type = net_types::executor;
  using next_layer_type = socket;
  using lowest_layer_type = socket;

  // Takes the accepted socket; the SSL object is made from `ctx` (the SNI callback may switch it later).
  // Throws std::bad_alloc when OpenSSL cannot allocate.
  tls_socket(socket s, SSL_CTX* ctx);
  tls_socket(tls_socket&& other) noexcept;
  tls_socket& operator=(tls_socket&&) = delete;
  ~tls_socket();

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  socket& next_layer() noexcept { return socket_; }
  socket& lowest_layer() noexcept { return socket_; }
  SSL* native_handle() noexcept { return ssl_; }

  // Server side only: this stream is for connections a listener accepted.
  template <typename Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type, Token&& token) {
    return start(do_handshake{}, std::forward<Token>(token));
  }

  // Sends close_notify and completes once it is out; it does not wait for the peer's (RFC 8446 §6.1 does
  // not ask the closing side to).
  template <typename Token>
  auto async_shutdown(Token&& token) {
    return start(do_shutdown{}, std::forward<Token>(token));
  }

  // Reads into the first non-empty buffer. End of stream: asio::error::eof after the peer's close_notify,
  // asio::ssl::error::stream_truncated when the connection ended without one.
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return start(do_read{first_buffer<boost::asio::mutable_buffer>(buffers)}, std::forward<Token>(token));
  }

  // One non-blocking read, now: the bytes read, or 0 with `ec` set: asio::error::would_block when nothing
  // has come (wait for the socket to be readable, then read), asio::error::in_progress when OpenSSL must
  // write first (use async_read_some), or the error as async_read_some gives it. (Not try_again for the
  // second: on Linux it is EAGAIN too, the same error code as would_block.)
  std::size_t read_some_now(boost::asio::mutable_buffer buffer, boost::system::error_code& ec);

  // One non-blocking write of all of `buffer`, now: the bytes written (all of them), or 0 with `ec` set:
  // asio::error::would_block when the socket is full (OpenSSL may hold part of it: finish with
  // async_write_some of the same bytes), asio::error::in_progress when OpenSSL must read first (the same),
  // or the error, after which the stream writes no more (as after a failed async write).
  std::size_t write_some_now(boost::asio::const_buffer buffer, boost::system::error_code& ec);
  // Writes all of the first non-empty buffer (as records of up to 16 KiB; callers hand over contiguous
  // data: see proxy/stream_traits.hpp).
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    const auto b = first_buffer<boost::asio::const_buffer>(buffers);
    return start(do_write{b.data(), b.size()}, std::forward<Token>(token));
  }

 private:
  // The OpenSSL call each operation makes (until it completes), kept out of line. Returns > 0 when done
  // (bytes moved in n), else OpenSSL's result for SSL_get_error. `transfers`: completes with a size.
  struct do_handshake {
    static constexpr bool transfers = false;
    static constexpr bool writes = false;
    int call(SSL* ssl, std::size_t& n) const;
  };
  struct do_shutdown {
    static constexpr bool transfers = false;
    static constexpr bool writes = true;
    int call(SSL* ssl, std::size_t& n) const;
  };
  struct do_read {
    static constexpr bool transfers = true;
    static constexpr bool writes = false;
    boost::asio::mutable_buffer buffer;
    int call(SSL* ssl, std::size_t& n) const;
  };
  struct do_write {
    static constexpr bool transfers = true;
    static constexpr bool writes = true;
    const void* data;
    std::size_t size;
    int call(SSL* ssl, std::size_t& n) const;
  };

  // What to do after an OpenSSL call that did not complete: wait for the socket, or finish with `ec`.
  // `saved_errno`: errno right after the call.
  enum class next { wait_read, wait_write, finish };
  next classify(int result, int saved_errno, boost::system::error_code& ec) const;
  // read_some_now and write_some_now: the action once, without waiting (tls_socket.cpp).
  template <typename Action>
  std::size_t now(const Action& action, boost::system::error_code& ec);

  // Whether an operation may call OpenSSL at all; if not, `ec` says why. A closed socket's descriptor
  // number may already belong to another connection. A write that failed part-way (cancelled by a
  // deadline, say) leaves a half-sent record inside OpenSSL, which a later write with other bytes would
  // complete with them: no write or close_notify follows a failed one.
  bool usable(bool writes, boost::system::error_code& ec) const;

  template <typename Action>
  struct ssl_op {
    tls_socket* stream;
    Action action;
    bool waited = false;     // after a wait, the result may be delivered directly
    bool finishing = false;  // the result is ready; this invocation is its posted delivery
    boost::system::error_code result_ec{};
    std::size_t result_n = 0;

    template <typename Self>
    void operator()(Self& self, boost::system::error_code wait_ec = {}) {
      if (finishing) return deliver(self, result_ec, result_n);
      if (wait_ec) return fail(self, wait_ec);  // cancelled (a deadline, a shutdown) or a dead socket
      std::size_t n = 0;
      boost::system::error_code ec;
      next step = next::finish;
      if (stream->usable(Action::writes, ec)) {
        errno = 0;  // a recv that returns 0 (end of stream) leaves errno as it was
        const int r = action.call(stream->ssl_, n);
        const int saved_errno = errno;
        if (r <= 0) step = stream->classify(r, saved_errno, ec);
      }
      if (step != next::finish) {
        waited = true;
        stream->socket_.async_wait(step == next::wait_read ? socket::wait_read : socket::wait_write, std::move(self));
        return;
      }
      if (ec && Action::writes) stream->write_failed_ = true;
      if (waited) return deliver(self, ec, n);
      // Never complete inside the initiating call: the result is delivered from the executor.
      finishing = true;
      result_ec = ec;
      result_n = n;
      auto ex = stream->get_executor();
      boost::asio::post(ex, std::move(self));
    }

    template <typename Self>
    void fail(Self& self, boost::system::error_code ec) {
      if (Action::writes) stream->write_failed_ = true;
      deliver(self, ec, 0);
    }

    template <typename Self>
    static void deliver(Self& self, boost::system::error_code ec, std::size_t n) {
      if constexpr (Action::transfers)
        self.complete(ec, n);
      else
        self.complete(ec);
    }
  };

  template <typename Action, typename Token>
  auto start(Action action, Token&& token) {
    using signature = std::conditional_t<Action::transfers, void(boost::system::error_code, std::size_t),
                                         void(boost::system::error_code)>;
    return boost::asio::async_compose<Token, signature>(ssl_op<Action>{this, action}, token, socket_);
  }

  // The first non-empty buffer of a sequence (Buffer: mutable_buffer or const_buffer), or an empty one.
  template <typename Buffer, typename Buffers>
  static Buffer first_buffer(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (Buffer b(*it); b.size() != 0) return b;
    return {};
  }

  socket socket_;
  SSL* ssl_ = nullptr;
  bool write_failed_ = false;
};

}  // namespace drawbridge::tls
