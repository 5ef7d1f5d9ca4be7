#pragma once
// Which kind of client stream a template is dealing with, without including Asio's SSL headers.
#include <type_traits>

namespace boost::asio::ssl {
template <typename Stream>
class stream;
}

namespace drawbridge::proxy {

// True for a TLS stream. Writes to it are made contiguous first: Asio's TLS stream packs at most 8 KiB of a
// gather write into each record it writes, so a larger response went out as many small records and
// system calls.
template <typename T>
struct is_tls_stream : std::false_type {};
template <typename S>
struct is_tls_stream<boost::asio::ssl::stream<S>> : std::true_type {};

}  // namespace drawbridge::proxy
