#pragma once
// Version affinity on the request path (the choice of node is upstream/balancer.hpp's): which version a
// request names, the cookie that makes a page's later requests name the version that served it, and when
// a static file's 404 is worth asking a node of the right version for. Sans-IO.
//
// Thread: the session's worker.

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <string>
#include <string_view>

#include "conf/config.hpp"
#include "proxy/response_filter.hpp"

namespace drawbridge::proxy {

// The value of cookie `name` in the request's Cookie header(s) (RFC 6265 §4.2: "a=1; b=2"), quotes
// removed; empty when absent.
std::string_view cookie_value(const boost::beast::http::fields& request, std::string_view name);

// The version a request names: the affinity header, else the cookie. Empty = none.
struct named_version {
  std::string_view version;  // the one that counts
  std::string_view cookie;   // the cookie's own value (decides whether an HTML answer sets it again)
};
named_version version_named_by(const boost::beast::http::fields& request, const conf::version_affinity_config& config);

// A GET for a file under /static/ (hashed bundle names: another build does not have them).
bool is_static_asset(const boost::beast::http::request_header<>& request);

// Head-only response filter: an HTML page (2xx or 3xx) from a node whose version is known sets the cookie
// when the request did not carry that value, so that the page's assets and API calls come back to the same version.
class version_cookie_filter final : public response_filter {
 public:
  // `config` null = no affinity (the filter does nothing). `node_version` null = not known.
  version_cookie_filter(const conf::version_affinity_config* config, std::string_view request_cookie,
                        const std::string* node_version, bool https)
      : config_(config), request_cookie_(request_cookie), node_version_(node_version), https_(https) {}
  bool start(const response_facts& facts, boost::beast::http::response_header<>& head) override;
  void transform(std::string_view, filter_flush, std::string&) override {}  // never asked: head only

 private:
  const conf::version_affinity_config* config_;
  std::string_view request_cookie_;
  const std::string* node_version_;
  bool https_;
};

}  // namespace drawbridge::proxy
