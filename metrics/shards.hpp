#pragma once
// Where the counts live. Each worker owns a worker_shard, one upstream_shard per upstream and one
// listener_shard per listener (found by name in the registry), and, for every node it sends requests
// to, a node_shard held by the node. Only that worker writes them; the scrape sums them over workers.
// Shards are never resized or freed while the registry lives, so reading them from the scrape thread
// is safe.

#include <array>
#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/counter.hpp"

namespace drawbridge::metrics {

// Status codes are counted by value: slot 0 for "no status" (the client went away first), then 100..599,
// and a last slot for the odd code a node may send from 600 to 999.
inline constexpr std::size_t code_slots = 502;
inline constexpr std::size_t other_code_slot = code_slots - 1;
inline std::size_t code_slot(unsigned status) {
  if (status == 0) return 0;
  return status >= 100 && status <= 599 ? status - 99 : other_code_slot;
}
inline unsigned slot_code(std::size_t slot) { return slot == 0 ? 0 : static_cast<unsigned>(slot + 99); }

// Why a request moved on from a node or was tried again (drawbridge_retries_total's reason label).
enum class retry_reason : std::size_t {
  connect_failed,
  dead_pooled_connection,
  no_response,
  gateway_error,
  stale_asset,
  count
};
inline constexpr const char* retry_reason_names[] = {"connect_failed", "dead_pooled_connection", "no_response",
                                                     "gateway_error", "stale_asset"};

// Why a request was refused before any routing (drawbridge_rejected_requests_total's reason label).
enum class reject_reason : std::size_t {
  malformed,            // 400
  header_timeout,       // 408
  body_too_large,       // 413
  header_too_large,     // 431
  version_unsupported,  // 505
  other,                // any other refusal (501 for an unknown transfer coding, ...)
  count
};
inline constexpr const char* reject_reason_names[] = {"malformed",        "header_timeout",      "body_too_large",
                                                      "header_too_large", "version_unsupported", "other"};
inline reject_reason reject_reason_for(unsigned status) {
  switch (status) {
    case 400:
      return reject_reason::malformed;
    case 408:
      return reject_reason::header_timeout;
    case 413:
      return reject_reason::body_too_large;
    case 431:
      return reject_reason::header_too_large;
    case 505:
      return reject_reason::version_unsupported;
    default:
      return reject_reason::other;
  }
}

using code_counts = std::array<counter, code_slots>;

struct alignas(64) node_shard {
  code_counts requests;         // answers that came through (or were meant for) this node
  histogram response_duration;  // from the first connect attempt to the end of the response
  counter connections_new;      // node connections opened
  counter connections_reused;   // requests sent on a pooled connection
};

struct alignas(64) upstream_shard {
  code_counts requests_without_node;  // routed here, but no node took them (503 no node, ...)
  histogram request_duration;
  std::array<counter, static_cast<std::size_t>(retry_reason::count)> retries;
};

struct alignas(64) listener_shard {
  gauge open;        // downstream connections open now
  counter accepted;  // downstream connections accepted
  counter refused;   // closed at once: limits.max_connections was reached
};

struct alignas(64) worker_shard {
  code_counts requests_unrouted;  // answered without an upstream: refusals, redirects, 404
  std::array<counter, static_cast<std::size_t>(reject_reason::count)> rejected;
  counter bytes_received;  // request body bytes read from clients
  counter bytes_sent;      // response body bytes written to clients (compressed size when gzipped)
  // Response body bytes given to the compression filter, and what came out of it, by coding
  // (proxy::content_coding's order: zstd, br, gzip).
  std::array<counter, 3> compressed_in;
  std::array<counter, 3> compressed_out;
  // Every request counted in drawbridge_requests_total, by how the client spoke: HTTP/1.x, HTTP/2.
  std::array<counter, 2> requests_by_protocol;
};

inline constexpr std::size_t max_workers = 256;  // as conf allows

// One shard per worker, each created by (or for) its worker on first use and read by the scrape from
// then on. Slots are atomic pointers so that the scrape may run while a worker creates its shard.
template <typename Shard>
class per_worker {
 public:
  per_worker() = default;
  per_worker(const per_worker&) = delete;
  per_worker& operator=(const per_worker&) = delete;
  ~per_worker() {
    for (auto& s : slots_) delete s.load(std::memory_order_relaxed);
  }
  // Worker `worker`'s thread (or its owner before it starts): the shard, created on first use.
  template <typename... Args>
  Shard& of(unsigned worker, Args&&... args) {
    auto* s = slots_[worker].load(std::memory_order_relaxed);
    if (!s) {
      s = new Shard(std::forward<Args>(args)...);
      slots_[worker].store(s, std::memory_order_release);
    }
    return *s;
  }
  // Any thread: null until that worker has its shard.
  const Shard* find(unsigned worker) const { return slots_[worker].load(std::memory_order_acquire); }

 private:
  std::array<std::atomic<Shard*>, max_workers> slots_{};
};

// Every worker's own counts, and the counts of each upstream and listener by name; a node holds
// per_worker<node_shard> for the counts about it. Counts are found by name, not by a position in a
// config, so a runtime built again from a new config (a reload) finds the counts of the upstreams and
// listeners it keeps, and an upstream or listener it adds gets its own. Created entries are never
// removed: a reference handed out stays valid for the registry's life.
class registry {
 public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  worker_shard& attach(unsigned worker) { return workers_.of(worker); }
  const worker_shard* find(unsigned worker) const { return workers_.find(worker); }

  // Any thread (a runtime being built, a worker meeting an upstream for the first time): the counts
  // kept under that name, created on first use.
  per_worker<upstream_shard>& upstream(std::string_view name) { return named(upstreams_, name); }
  per_worker<listener_shard>& listener(std::string_view name) { return named(listeners_, name); }
  // Any thread (the scrape): null when nothing was ever counted under that name.
  const per_worker<upstream_shard>* find_upstream(std::string_view name) const { return find(upstreams_, name); }
  const per_worker<listener_shard>* find_listener(std::string_view name) const { return find(listeners_, name); }

 private:
  template <typename Shard>
  using by_name = std::map<std::string, std::unique_ptr<per_worker<Shard>>, std::less<>>;

  template <typename Shard>
  per_worker<Shard>& named(by_name<Shard>& map, std::string_view name) {
    const std::lock_guard lock(mutex_);
    auto it = map.find(name);
    if (it == map.end()) it = map.emplace(std::string(name), std::make_unique<per_worker<Shard>>()).first;
    return *it->second;
  }
  template <typename Shard>
  const per_worker<Shard>* find(const by_name<Shard>& map, std::string_view name) const {
    const std::lock_guard lock(mutex_);
    const auto it = map.find(name);
    return it == map.end() ? nullptr : it->second.get();
  }

  per_worker<worker_shard> workers_;
  mutable std::mutex mutex_;  // guards the two maps (not the counts: each has its single writer)
  by_name<upstream_shard> upstreams_;
  by_name<listener_shard> listeners_;
};

}  // namespace drawbridge::metrics
