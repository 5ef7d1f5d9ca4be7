#include "proxy/header_rewrite.hpp"

#include <cctype>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <string>
#include <vector>

#include "proxy/field_text.hpp"

namespace drawbridge::proxy {
namespace http = boost::beast::http;

namespace {
bool protected_from_connection(boost::beast::string_view name) {
  return iequals_ascii(name, "content-length") || iequals_ascii(name, "transfer-encoding") ||
         iequals_ascii(name, "host");
}
}  // namespace

void strip_hop_by_hop(http::fields& fields) {
  // Collect the names first: erasing while iterating Connection's own value would invalidate it.
  std::vector<std::string> named;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    for (auto token : http::token_list{field.value()})
      if (!protected_from_connection(token)) named.emplace_back(token);
  }
  for (const auto& name : named) fields.erase(name);
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::upgrade);
  for (auto it = fields.begin(); it != fields.end();) {
    const auto name = it->name_string();
    if (name.size() >= 6 && iequals_ascii(name.substr(0, 6), "proxy-"))
      it = fields.erase(it);
    else
      ++it;
  }
}

namespace {
// A header name that reads as one of the forwarding headers once "_" is taken for "-".
bool names_forwarding_header(boost::beast::string_view name) {
  static constexpr std::string_view forwarding_names[] = {
      "forwarded",          "x-forwarded-for", "x-forwarded-proto",  "x-forwarded-host", "x-forwarded-port",
      "x-forwarded-prefix", "x-forwarded-ssl", "x-forwarded-server", "x-real-ip",        "x-request-id"};
  for (const auto candidate : forwarding_names) {
    if (candidate.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      const char c = name[i] == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
      same = c == candidate[i];
    }
    if (same) return true;
  }
  return false;
}
}  // namespace

void rewrite_request(http::fields& fields, const forwarding& info) {
  strip_hop_by_hop(fields);
  // httpoxy: CGI-style gateways turn "Proxy" into HTTP_PROXY, which many HTTP clients on the node then use
  // as their outgoing proxy. No legitimate request carries it.
  fields.erase("Proxy");

  std::string forwarded_for;
  if (info.trusted_peer) {
    // Several X-Forwarded-For lines are one list (RFC 9110 §5.3); fold them and append the peer.
    for (const auto& field : fields) {
      if (iequals_ascii(field.name_string(), "x-forwarded-for")) {
        if (!forwarded_for.empty()) forwarded_for += ", ";
        forwarded_for.append(field.value().data(), field.value().size());
      }
    }
    if (!forwarded_for.empty()) forwarded_for += ", ";
  } else {
    // What an untrusted client says about where it came from is not passed on: the node would believe it
    // (Spring reads Forwarded first, and builds redirects and links from it).
    for (const char* name :
         {"Forwarded", "X-Real-IP", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Server"})
      fields.erase(name);
    // Nor under a name with "_" for "-": CGI- and WSGI-style gateways read X_Forwarded_For as
    // HTTP_X_FORWARDED_FOR, the very variable the dashed name becomes.
    for (auto it = fields.begin(); it != fields.end();) {
      if (it->name_string().find('_') != boost::beast::string_view::npos && names_forwarding_header(it->name_string()))
        it = fields.erase(it);
      else
        ++it;
    }
  }
  forwarded_for.append(info.client_address);
  fields.set("X-Forwarded-For", forwarded_for);
  if (!info.trusted_peer || fields.count("X-Forwarded-Proto") == 0) fields.set("X-Forwarded-Proto", info.proto);
  if (!info.trusted_peer || fields.count("X-Forwarded-Host") == 0) {
    const std::string host(fields[http::field::host]);  // a copy: set() below reshapes the container
    if (!host.empty())
      fields.set("X-Forwarded-Host", host);
    else
      fields.erase("X-Forwarded-Host");
  }
  fields.set("X-Request-Id", info.request_id);
}

bool is_trusted_peer(const std::vector<conf::ip_network>& trusted, const boost::asio::ip::address& peer) {
  if (trusted.empty()) return false;
  if (peer.is_v4()) {
    const auto bytes = peer.to_v4().to_bytes();
    for (const auto& network : trusted)
      if (network.contains(bytes)) return true;
    return false;
  }
  const auto bytes = peer.to_v6().to_bytes();
  for (const auto& network : trusted)
    if (network.contains(bytes)) return true;
  return false;
}

void rewrite_response(http::fields& fields, std::string_view request_id) {
  strip_hop_by_hop(fields);
  fields.set("X-Request-Id", request_id);
}

}  // namespace drawbridge::proxy
