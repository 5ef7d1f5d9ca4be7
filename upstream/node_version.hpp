#pragma once
// Node versions (version affinity): the application version each node reports, kept as interned strings
// so that a node can publish its version through one atomic pointer that workers read without a lock,
// and a version once seen stays valid for the life of the process.
//
// The table is process-wide: nodes outlive runtimes and upstream objects (a reload keeps them), and the
// same version string is shared by every node that reports it. It is bounded: only versions that nodes
// report are interned (never what a client names), each at most max_version_length characters of a
// conservative alphabet (it ends up in a cookie and in metric labels), and at most max_versions of them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace drawbridge::upstream {

inline constexpr std::size_t max_version_length = 64;
inline constexpr std::size_t max_versions = 1024;

// Letters, digits and . _ - + only, 1 to max_version_length of them ("v1.9.3", "2026.11.2-beta+7").
bool valid_version(std::string_view text);

// The interned copy of `text`, added if new: stable for the life of the process. Null when `text` is not
// a valid version or the table is full (logged once). Any thread; takes a lock (node::learn_version calls
// it only when a node's version changes).
const std::string* intern_version(std::string_view text);

// drawbridge_version_fallbacks_total: requests that named a version `named` and were taken by a node of
// another version (none of it was left). Labelled by the version named when a node ever reported it, else
// "unknown" (a client's text never becomes a label). Process-wide, so a config reload does not reset it.
// Any thread; one lock, taken only for such a request.
void count_version_fallback(const std::string& upstream, std::string_view named);
struct version_fallback_count {
  std::string upstream;
  std::string version;
  std::uint64_t count;
};
std::vector<version_fallback_count> version_fallbacks();

}  // namespace drawbridge::upstream
