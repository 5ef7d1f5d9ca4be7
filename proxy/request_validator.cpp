#include "proxy/request_validator.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cctype>

#include "proxy/field_text.hpp"

namespace drawbridge::proxy {
namespace http = boost::beast::http;

header_scan scan_header(std::string_view data, std::size_t resume) {
  header_scan scan;
  // Step back one byte: a CR at the old end could not be checked against the byte after it.
  std::size_t i = resume > 0 ? resume - 1 : 0;
  for (; i < data.size(); ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c == '\r') {
      if (i + 1 == data.size()) break;  // need the next byte to judge
      if (data[i + 1] != '\n') return {0, i, {400, "bare CR in header"}};
      continue;
    }
    if (c == '\n') {
      if (i == 0 || data[i - 1] != '\r') return {0, i, {400, "bare LF in header"}};
      if (i >= 3 && data[i - 3] == '\r' && data[i - 2] == '\n') {
        scan.end = i + 1;
        scan.scanned = i + 1;
        return scan;
      }
      continue;
    }
    if ((c == ' ' || c == '\t') && i >= 2 && data[i - 2] == '\r' && data[i - 1] == '\n')
      return {0, i, {400, "obs-fold or whitespace at the start of a header line"}};
    if ((c < 0x20 && c != '\t') || c == 0x7f) return {0, i, {400, "control character in header"}};
  }
  scan.scanned = i;
  return scan;
}

verdict check_version(std::string_view block) {
  const auto line = block.substr(0, block.find("\r\n"));
  const auto space = line.rfind(' ');
  if (space == std::string_view::npos) return {};
  const auto v = line.substr(space + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7])) return {};
  if (v == "HTTP/1.1" || v == "HTTP/1.0") return {};
  return {505, "HTTP version not supported"};
}

namespace {

bool is_digits(boost::beast::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_host(boost::beast::string_view host) {
  // reg-name / IPv4 / [IPv6] with an optional port; percent-encoding allowed. No userinfo ("@"), no path.
  return std::all_of(host.begin(), host.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) || std::string_view("-._~!$&'()*+,;=:[]%").find(ch) != std::string_view::npos;
  });
}

verdict check_transfer_encoding(const http::request_header<>& h) {
  // Join every Transfer-Encoding line: "gzip" + "chunked" on two lines means "gzip, chunked".
  int codings = 0;
  int chunked = 0;
  bool last_is_chunked = false;
  for (const auto& field : h) {
    if (field.name() != http::field::transfer_encoding) continue;
    for (auto coding : http::token_list{field.value()}) {
      ++codings;
      last_is_chunked = iequals_ascii(coding, "chunked");
      if (last_is_chunked) ++chunked;
    }
  }
  if (codings == 0) return {400, "empty Transfer-Encoding"};
  if (chunked > 1) return {400, "chunked applied more than once"};
  if (!last_is_chunked) return {400, "Transfer-Encoding does not end in chunked"};
  if (codings > 1) return {501, "transfer coding other than chunked"};
  return {};
}

// Whether `name` is `framing` once each "_" in it is read as "-", as CGI-style gateways and some frameworks
// do. Such a field is an ordinary one to us and would frame the body on the node: refused.
bool reads_as(boost::beast::string_view name, std::string_view framing) {
  if (name.size() != framing.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto lower = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    const char c = name[i] == '_' ? '-' : lower;
    if (c != framing[i]) return false;
  }
  return true;
}

}  // namespace

verdict check_request_header(const http::request_header<>& h) {
  if (h.version() != 11 && h.version() != 10) return {505, "HTTP version not supported"};
  if (h.method() == http::verb::connect) return {501, "CONNECT is not supported"};
  if (h.method() == http::verb::unknown) {
    // Beast keeps unknown tokens; they are valid HTTP, forwarded as they are.
  }

  const auto target = h.target();
  std::string_view authority, rest;
  const bool absolute = split_absolute_target({target.data(), target.size()}, authority, rest);
  if (!absolute && !(!target.empty() && target.front() == '/') && !(target == "*" && h.method() == http::verb::options))
    return {400, "invalid request target"};

  const auto hosts = h.count(http::field::host);
  if (hosts > 1) return {400, "more than one Host header"};
  if (hosts == 0 && h.version() == 11) return {400, "missing Host header"};
  if (hosts == 1 && !valid_host(h[http::field::host])) return {400, "invalid Host header"};
  // An http(s) URI with an empty host is invalid and must be refused (RFC 9110 §4.2.1): "GET http:// ...".
  if (absolute && (authority.empty() || !valid_host({authority.data(), authority.size()})))
    return {400, "invalid target authority"};

  for (const auto& field : h) {
    const auto name = field.name_string();
    if (name.find('_') == boost::beast::string_view::npos) continue;
    if (reads_as(name, "content-length") || reads_as(name, "transfer-encoding"))
      return {400, "header name with \"_\" that reads as Content-Length or Transfer-Encoding"};
  }

  const auto lengths = h.count(http::field::content_length);
  const bool has_te = h.count(http::field::transfer_encoding) > 0;
  if (lengths > 1) return {400, "more than one Content-Length header"};
  if (lengths == 1 && !is_digits(h[http::field::content_length])) return {400, "invalid Content-Length"};
  if (has_te) {
    if (lengths > 0) return {400, "both Content-Length and Transfer-Encoding"};
    if (h.version() == 10) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
    if (auto v = check_transfer_encoding(h); !v.ok()) return v;
  }
  return {};
}

bool is_acme_challenge(std::string_view target) {
  constexpr std::string_view prefix = acme_challenge_prefix;
  if (!target.starts_with(prefix) || target.size() == prefix.size()) return false;
  const auto token = target.substr(prefix.size());
  return std::all_of(token.begin(), token.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) || ch == '-' || ch == '_';
  });
}

bool split_absolute_target(std::string_view target, std::string_view& authority, std::string_view& rest) {
  std::size_t scheme_end = 0;
  if (iequals_ascii(target.substr(0, 7), "http://"))
    scheme_end = 7;
  else if (iequals_ascii(target.substr(0, 8), "https://"))
    scheme_end = 8;
  else
    return false;
  const auto after = target.substr(scheme_end);
  const auto slash = after.find_first_of("/?");
  authority = after.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view("/") : after.substr(slash);
  return true;
}

}  // namespace drawbridge::proxy
