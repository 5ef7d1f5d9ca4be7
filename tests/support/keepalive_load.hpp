#pragma once
// Clients sending GETs (/api/v1/users/me) and POSTs (30%, 2000 bytes to /upload) over keep-alive
// connections to 127.0.0.1:port, each on a thread of its own, until stopped; answers other than 200 are
// counted and the first 20 described. stop() (and the destructor) lets each client finish its request
// in flight and joins the threads.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace drawbridge::testing {

class keepalive_load {
 public:
  keepalive_load(std::uint16_t port, int clients);
  ~keepalive_load();
  keepalive_load(const keepalive_load&) = delete;
  keepalive_load& operator=(const keepalive_load&) = delete;

  void stop();
  std::uint64_t gets() const { return gets_; }
  std::uint64_t posts() const { return posts_; }
  std::uint64_t failed_gets() const { return failed_gets_; }
  std::uint64_t failed_posts() const { return failed_posts_; }
  std::string failures();

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> gets_{0}, posts_{0}, failed_gets_{0}, failed_posts_{0};
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

}  // namespace drawbridge::testing
