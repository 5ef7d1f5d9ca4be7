#include "proxy/gzip_policy.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <string>

#include "proxy/field_text.hpp"

namespace drawbridge::proxy {

namespace http = boost::beast::http;

namespace {

// Calls f(token, rest) for each comma-separated element of a header list; stops when f returns false.
template <typename F>
void for_each_element(std::string_view list, F f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !f(element)) return;
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// The q-value of an Accept-Encoding element's parameters ("q=0.5") in thousandths: 1000 without one,
// nullopt when malformed.
std::optional<int> qvalue(std::string_view params) {
  int q = 1000;
  for (std::string_view rest = params; !rest.empty();) {
    const auto semi = rest.find(';');
    const auto param = trim_ows(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (param.empty() || (param[0] != 'q' && param[0] != 'Q')) continue;
    const auto after_q = trim_ows(param.substr(1));
    if (after_q.empty() || after_q.front() != '=') continue;
    const auto value = trim_ows(after_q.substr(1));
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    if (value.empty() || (value[0] != '0' && value[0] != '1') || value.size() > 5 ||
        (value.size() > 1 && value[1] != '.'))
      return std::nullopt;
    q = (value[0] - '0') * 1000;
    int scale = 100;  // of the next digit after the point
    for (const char c : value.substr(std::min<std::size_t>(value.size(), 2))) {
      if (c < '0' || c > '9') return std::nullopt;
      q += (c - '0') * scale;
      scale /= 10;
    }
    if (q > 1000) return std::nullopt;  // "1.5"
  }
  return q;
}

// The level the config gives a coding; nullopt when that coding is off.
const std::optional<int>& configured_level(const conf::gzip_config& config, content_coding coding) {
  switch (coding) {
    case content_coding::zstd:
      return config.zstd_level;
    case content_coding::br:
      return config.br_level;
    case content_coding::gzip:
      break;
  }
  return config.gzip_level;
}

}  // namespace

std::optional<content_coding> choose_coding(const conf::gzip_config& config, std::string_view accept_encoding) {
  std::optional<int> named[content_coding_count];  // by content_coding
  std::optional<int> star;
  for_each_element(accept_encoding, [&](std::string_view element) {
    const auto semi = element.find(';');
    const auto token = trim_ows(element.substr(0, semi));
    const auto q = qvalue(semi == std::string_view::npos ? std::string_view() : element.substr(semi + 1));
    if (!q) return true;  // a malformed element counts for nothing
    if (token == "*") {
      star = *q;
      return true;
    }
    for (const auto c : content_codings)
      if (iequals_ascii(token, coding_token(c)) || (c == content_coding::gzip && iequals_ascii(token, "x-gzip")))
        named[static_cast<std::size_t>(c)] = *q;
    return true;
  });
  std::optional<content_coding> best;
  int best_q = 0;
  for (const auto c : content_codings) {  // in order of preference: a tie keeps the earlier
    const bool on = configured_level(config, c).has_value();
    const int q = named[static_cast<std::size_t>(c)].value_or(star.value_or(0));
    if (on && q > best_q) {
      best = c;
      best_q = q;
    }
  }
  return best;
}

int coding_level(const conf::gzip_config& config, content_coding coding) {
  return configured_level(config, coding).value_or(1);
}

bool gzip_types_match(const conf::gzip_config& config, std::string_view content_type) {
  const auto type = media_type(content_type);
  if (type.empty()) return false;
  for (const auto& t : config.types)
    if (iequals_ascii(type, t)) return true;
  return false;
}

gzip_verdict judge_gzip(const conf::gzip_config& config, bool client_accepts, bool head_request, bool has_body,
                        const http::response_header<>& response, std::optional<std::uint64_t> content_length) {
  gzip_verdict v;
  if (!config.enabled || !gzip_types_match(config, response[http::field::content_type])) return v;
  v.vary = true;
  const unsigned status = response.result_int();
  if (!client_accepts || head_request || !has_body) return v;
  if (status < 200 || status == 204 || status == 206 || status == 304) return v;
  if (const auto encoding = trim_ows(response[http::field::content_encoding]);
      !encoding.empty() && !iequals_ascii(encoding, "identity"))
    return v;  // never encode twice
  bool no_transform = false;
  for_each_element(response[http::field::cache_control], [&](std::string_view directive) {
    no_transform = iequals_ascii(trim_ows(directive.substr(0, directive.find('='))), "no-transform");
    return !no_transform;
  });
  if (no_transform) return v;
  if (content_length && *content_length < config.min_length) return v;
  v.compress = true;
  return v;
}

void mark_encoded(http::response_header<>& response, content_coding coding) {
  response.set(http::field::content_encoding, coding_token(coding));
  response.erase(http::field::content_length);
  response.erase(http::field::accept_ranges);
  if (const auto it = response.find(http::field::etag); it != response.end()) {
    const auto etag = it->value();
    if (!etag.empty() && etag.front() == '"') response.set(http::field::etag, "W/" + std::string(etag));
  }
}

void add_vary_accept_encoding(http::response_header<>& response) {
  std::string merged;  // every Vary line, joined
  bool present = false;
  for (auto [it, end] = response.equal_range(http::field::vary); it != end; ++it) {
    for_each_element(it->value(), [&](std::string_view element) {
      present = present || element == "*" || iequals_ascii(element, "accept-encoding");
      if (!merged.empty()) merged += ", ";
      merged += element;
      return true;
    });
  }
  if (present) return;
  merged += merged.empty() ? "Accept-Encoding" : ", Accept-Encoding";
  response.set(http::field::vary, merged);
}

}  // namespace drawbridge::proxy
