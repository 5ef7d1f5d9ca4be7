#pragma once
// Small helpers for the text of HTTP header fields, shared by the request checks, gzip's negotiation, the
// admin API's guard and version affinity's cookie parsing. Sans-IO, header-only.

#include <string_view>

namespace drawbridge::proxy {

// `s` without the optional whitespace (RFC 9110 §5.6.3 OWS: spaces and tabs) around it.
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace drawbridge::proxy
