#include "tests/support/keepalive_load.hpp"

#include <optional>

#include "tests/support/test_client.hpp"

namespace drawbridge::testing {

namespace http = boost::beast::http;

keepalive_load::keepalive_load(std::uint16_t port, int clients) {
  for (int i = 0; i < clients; ++i)
    threads_.emplace_back([this, port, i] {
      std::optional<test_client> client;
      for (std::uint64_t n = 0; !stop_; ++n) {
        if (!client || !client->connected()) client.emplace(port);
        const bool post = (n + static_cast<std::uint64_t>(i)) % 10 < 3;
        const auto res = post ? client->request(http::verb::post, "/upload", std::string(2000, 'p'))
                              : client->get("/api/v1/users/me");
        ++(post ? posts_ : gets_);
        if (res.status != 200) {
          ++(post ? failed_posts_ : failed_gets_);
          std::lock_guard lock(mutex_);
          if (failures_.size() < 20)
            failures_.push_back((post ? "POST " : "GET ") + std::to_string(res.status) + " " + res.error + " " +
                                res.body.substr(0, 80));
          client.reset();
        }
      }
    });
}

keepalive_load::~keepalive_load() { stop(); }

void keepalive_load::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::string keepalive_load::failures() {
  std::lock_guard lock(mutex_);
  std::string all;
  for (const auto& f : failures_) all += f + "\n";
  return all;
}

}  // namespace drawbridge::testing
