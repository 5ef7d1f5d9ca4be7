#pragma once
// One JSON line per request, to stdout or to a size-rotated file. Thread-safe: workers share one log.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <string_view>

#include "conf/config.hpp"

namespace spdlog {
class logger;
}

namespace drawbridge::proxy {

struct access_record {
  std::chrono::system_clock::time_point time;  // when the request header was complete
  std::string_view request_id;
  std::string_view client;
  std::string_view method;
  std::string_view path;
  unsigned status = 0;          // what the client got; 0 when the connection died before a status
  std::uint64_t bytes_in = 0;   // request body bytes read from the client
  std::uint64_t bytes_out = 0;  // response body bytes written to the client
  std::string_view upstream;    // empty when no upstream was chosen
  std::string_view node;
  double duration_ms = 0;
  double upstream_ms = -1;  // from the first connect attempt to the end of the response; -1 = none
};

class access_log {
 public:
  // Opens the sink named by the config ("-" stdout, "off" nothing, else a rotating file). Lines are
  // buffered and flushed every 250 ms (and at destruction), not one write per request.
  // Throws std::runtime_error naming the path when the file cannot be opened.
  explicit access_log(const conf::access_log_config& config);
  ~access_log();

  bool enabled() const { return logger_ != nullptr; }
  // Any thread.
  void write(const access_record& record);

 private:
  void flush_loop();

  std::shared_ptr<spdlog::logger> logger_;
  std::mutex flush_mutex_;
  std::condition_variable flush_wakeup_;
  bool closing_ = false;
  std::thread flusher_;
};

// Appends `text` to `out` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view text);
// RFC 3339 UTC with milliseconds: "2026-11-26T06:58:35.932Z" (the access log's and the admin API's times).
void append_utc_time(std::string& out, std::chrono::system_clock::time_point t);

// Sets up the operational log on stderr at the given level ("info", "debug", ...).
void setup_operational_log(const std::string& level);

}  // namespace drawbridge::proxy
