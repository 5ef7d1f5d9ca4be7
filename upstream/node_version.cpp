#include "upstream/node_version.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

namespace drawbridge::upstream {
namespace {

struct version_table {
  std::mutex mutex;
  std::set<std::string, std::less<>> versions;  // node-based: an element's address never changes
  bool full_logged = false;
  // By upstream, then by interned version (null: one no node ever reported).
  std::map<std::string, std::map<const std::string*, std::uint64_t>, std::less<>> fallbacks;
};

version_table& table() {
  // Never destroyed: nodes (and their pointers into it) may be read by threads still ending at exit.
  static auto* t = new version_table;
  return *t;
}

}  // namespace

bool valid_version(std::string_view text) {
  if (text.empty() || text.size() > max_version_length) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '+';
  });
}

const std::string* intern_version(std::string_view text) {
  if (!valid_version(text)) return nullptr;
  auto& t = table();
  const std::lock_guard lock(t.mutex);
  if (const auto it = t.versions.find(text); it != t.versions.end()) return &*it;
  if (t.versions.size() >= max_versions) {
    if (!t.full_logged)
      spdlog::warn("version affinity: {} different node versions seen; further ones are not learned", max_versions);
    t.full_logged = true;
    return nullptr;
  }
  return &*t.versions.emplace(text).first;
}

void count_version_fallback(const std::string& upstream, std::string_view named) {
  auto& t = table();
  const std::lock_guard lock(t.mutex);
  const auto known = valid_version(named) ? t.versions.find(named) : t.versions.end();
  const std::string* version = known == t.versions.end() ? nullptr : &*known;
  auto per_upstream = t.fallbacks.find(upstream);
  if (per_upstream == t.fallbacks.end())
    per_upstream = t.fallbacks.emplace(upstream, decltype(per_upstream->second){}).first;
  ++per_upstream->second[version];
}

std::vector<version_fallback_count> version_fallbacks() {
  auto& t = table();
  const std::lock_guard lock(t.mutex);
  std::vector<version_fallback_count> out;
  for (const auto& [upstream, counts] : t.fallbacks) {
    // By label: a node reporting the version "unknown" shares the label of the versions nobody reported
    // (two series with one label set would make the scrape invalid).
    std::map<std::string, std::uint64_t> by_label;
    for (const auto& [version, count] : counts) by_label[version ? *version : "unknown"] += count;
    for (const auto& [label, count] : by_label) out.push_back({upstream, label, count});
  }
  return out;
}

}  // namespace drawbridge::upstream
