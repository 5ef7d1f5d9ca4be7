#pragma once
// One HTTP/2 request, from its complete header block to the end of its answer: the same steps as an
// HTTP/1.1 request (proxy/session.cpp): the header goes through the HTTP/1.1 parser and validator (as the
// HTTP/1.1 header an HTTP/1.1 node will get), then the decision (proxy/request_decision.hpp), then an
// exchange with the stream as its downstream, then one access-log line.

#include <memory>
#include <string_view>

#include "proxy/awaitable.hpp"

namespace drawbridge::proxy {

class h2_stream;
class worker;
struct listener;
struct runtime;

// What a stream's exchange needs of its connection. `rt` holds `l`; `client_ip` is the connection's, which
// outlives the exchange.
struct h2_origin {
  std::shared_ptr<const runtime> rt;
  const listener* l = nullptr;
  std::string_view client_ip;
  bool peer_trusted = false;
  bool tls = false;
};

task<void> serve_h2_stream(worker& w, h2_origin origin, std::shared_ptr<h2_stream> stream);

}  // namespace drawbridge::proxy
