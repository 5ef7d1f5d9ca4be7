#pragma once
// Which kind of client stream a template is dealing with, without including Asio's SSL headers.
#include <type_traits>

namespace boost::asio::ssl {
template <typename Stream>
class stream;
}
namespace drawbridge::tls {
class tls_socket;
}

namespace drawbridge::proxy {

// True for a TLS stream. Writes to it are made contiguous first: the client-side stream writes only the
// first buffer of a sequence per call, and Asio's (to nodes) packs at most 8 KiB of a gather write into a
// record, so a gather write would go out as many small records and system calls.
template <typename T>
struct is_tls_stream : std::false_type {};
template <typename S>
struct is_tls_stream<boost::asio::ssl::stream<S>> : std::true_type {};  // TLS to nodes
template <>
struct is_tls_stream<tls::tls_socket> : std::true_type {};  // TLS from clients

}  // namespace drawbridge::proxy
