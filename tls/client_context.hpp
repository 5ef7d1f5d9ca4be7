#pragma once
// The SSL context for TLS to the nodes of one upstream: TLS 1.2 or later, the node's certificate verified
// against `ca_file` (or the system's roots) unless verification is turned off, an optional client
// certificate for mutual TLS, ALPN http/1.1.

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "conf/config.hpp"

namespace drawbridge::tls {

// nullptr with `error` naming the file and the problem.
std::shared_ptr<boost::asio::ssl::context> build_client_context(const conf::upstream_tls_config& config,
                                                                std::string& error);

}  // namespace drawbridge::tls
