#pragma once
// Route matching: a route naming the request's host beats a route for any host; among those, the longest
// path_prefix wins. A prefix matches whole path segments: "/api" matches "/api", "/api/x" and "/api?q",
// not "/apiary"; a prefix ending in "/" matches anything below it.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::proxy {

struct route_entry {
  std::optional<std::string> host;
  std::string path_prefix;
  upstream::upstream_group* upstream;  // owned by the runtime that owns this table (its state changes)
};

class route_table {
 public:
  // Each route's upstream is found by name among `upstreams` (routes were validated by conf).
  route_table(const std::vector<conf::route_config>& routes,
              const std::vector<std::shared_ptr<upstream::upstream_group>>& upstreams);

  // `host` lower-case without port; `target` the origin-form target (query allowed). nullptr: no route.
  const route_entry* match(std::string_view host, std::string_view target) const;

 private:
  std::vector<route_entry> entries_;  // host routes first, then by descending prefix length
};

// "Example.COM:8080" → "example.com"; "[::1]:80" → "[::1]".
std::string normalize_host(std::string_view host_header);

}  // namespace drawbridge::proxy
