#pragma once
// A TLS stream over the workers' socket type. Its own header: only the code that speaks TLS pays for
// Asio's SSL headers.

#include <boost/asio/ssl/stream.hpp>

#include "net/stream.hpp"

namespace drawbridge::net_types {

using tls_stream = boost::asio::ssl::stream<socket>;

}  // namespace drawbridge::net_types
