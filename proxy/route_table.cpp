#include "proxy/route_table.hpp"

#include <algorithm>

namespace drawbridge::proxy {

route_table::route_table(const std::vector<conf::route_config>& routes,
                         const std::vector<std::shared_ptr<upstream::upstream_group>>& upstreams) {
  for (const auto& r : routes) {
    const auto it =
        std::find_if(upstreams.begin(), upstreams.end(), [&](const auto& g) { return g->name() == r.upstream; });
    if (it == upstreams.end()) continue;  // conf refuses such routes; be defensive anyway
    entries_.push_back({r.host, r.path_prefix, it->get()});
  }
  // Sorted once so that the first match is the best one.
  std::stable_sort(entries_.begin(), entries_.end(), [](const route_entry& a, const route_entry& b) {
    if (a.host.has_value() != b.host.has_value()) return a.host.has_value();
    return a.path_prefix.size() > b.path_prefix.size();
  });
}

namespace {
bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  if (prefix.back() == '/' || path.size() == prefix.size()) return true;
  const char next = path[prefix.size()];
  return next == '/' || next == '?';
}
}  // namespace

const route_entry* route_table::match(std::string_view host, std::string_view target) const {
  for (const auto& e : entries_) {
    if (e.host && *e.host != host) continue;
    if (prefix_matches(e.path_prefix, target)) return &e;
  }
  return nullptr;
}

std::string normalize_host(std::string_view host) {
  std::size_t end = host.size();
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    end = close == std::string_view::npos ? host.size() : close + 1;
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    end = colon;
  }
  std::string out(host.substr(0, end));
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace drawbridge::proxy
