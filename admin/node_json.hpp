#pragma once
// How nodes and upstreams look in the admin API's answers.

#include <nlohmann/json.hpp>

#include "upstream/health_checker.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::admin {

nlohmann::ordered_json node_json(const upstream::upstream_group& group, const upstream::node& n,
                                 const upstream::health_checker& checker);
nlohmann::ordered_json upstream_json(const upstream::upstream_group& group, const upstream::health_checker& checker);

// An RFC 3339 UTC time with milliseconds: "2026-11-26T09:12:00.123Z".
std::string format_utc(std::int64_t unix_ms);

}  // namespace drawbridge::admin
