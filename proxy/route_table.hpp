#pragma once
// Route matching: a route naming the request's host beats a route for any host; among those, the longest
// path_prefix wins. A prefix matches whole path segments: "/api" matches "/api", "/api/x" and "/api?q",
// not "/apiary"; a prefix ending in "/" matches anything below it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"

namespace drawbridge::proxy {

struct route_entry {
  std::optional<std::string> host;
  std::string path_prefix;
  std::size_t upstream_index;  // into the runtime's upstream list
};

class route_table {
 public:
  // `upstream_names` in the same order as the runtime's upstream list; routes were validated by conf.
  route_table(const std::vector<conf::route_config>& routes, const std::vector<std::string>& upstream_names);

  // `host` lower-case without port; `target` the origin-form target (query allowed). nullptr: no route.
  const route_entry* match(std::string_view host, std::string_view target) const;

 private:
  std::vector<route_entry> entries_;  // host routes first, then by descending prefix length
};

// "Example.COM:8080" → "example.com"; "[::1]:80" → "[::1]".
std::string normalize_host(std::string_view host_header);

}  // namespace drawbridge::proxy
