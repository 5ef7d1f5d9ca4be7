#pragma once
// Small helpers for the text of HTTP header fields, shared by the request checks, header rewriting, gzip's
// negotiation, the admin API and version affinity. Sans-IO, header-only.

#include <cstddef>
#include <string_view>

namespace drawbridge::proxy {

// Whether `a` and `b` are equal, ignoring ASCII case (field names, tokens, schemes). Instead of
// boost::beast::iequals, which in Boost 1.81 reads one byte past both strings when they differ in case
// (a fuzzer found it on a request target "httP://", whose exact-size buffer ends there).
inline bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x == y) continue;
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// `s` without the optional whitespace (RFC 9110 §5.6.3 OWS: spaces and tabs) around it.
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The media type of a Content-Type value, without parameters or surrounding spaces ("application/json"
// for "Application/JSON; charset=utf-8"); compare it with iequals_ascii.
inline std::string_view media_type(std::string_view content_type) {
  return trim_ows(content_type.substr(0, content_type.find(';')));
}

}  // namespace drawbridge::proxy
