#pragma once
// What GET /metrics returns: every drawbridge_ series summed over the workers' shards, the nodes' and
// listeners' state read from their atomics, and the standard process series. Control thread.

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "proxy/runtime.hpp"

namespace drawbridge::admin {

// Admin API calls by action and result ("ok" or the error code); kept by the API on the control thread.
using action_counts = std::map<std::pair<std::string, std::string>, std::uint64_t>;

std::string render_metrics(const proxy::runtime& rt, const action_counts& actions);

}  // namespace drawbridge::admin
