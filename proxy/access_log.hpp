#pragma once
// One JSON line per request, to stdout or to a size-rotated file, and the operational log on stderr. Both
// go through a log_writer: a worker formats its line and queues it, the log's own thread writes it, and a
// destination that stops taking lines costs dropped lines (counted for /metrics), never a stalled worker.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "conf/config.hpp"

namespace drawbridge::proxy {

struct access_record {
  std::chrono::system_clock::time_point time;  // when the request header was complete
  std::string_view request_id;
  std::string_view client;
  std::string_view method;
  std::string_view path;
  std::string_view protocol = "HTTP/1.1";  // how the client spoke: "HTTP/1.1" (1.0 included) or "HTTP/2"
  unsigned status = 0;                     // what the client got; 0 when the connection died before a status
  std::uint64_t bytes_in = 0;              // request body bytes read from the client
  std::uint64_t bytes_out = 0;             // response body bytes written to the client
  std::string_view upstream;               // empty when no upstream was chosen
  std::string_view node;
  double duration_ms = 0;
  double upstream_ms = -1;  // from the first connect attempt to the end of the response; -1 = none
};

class log_writer;

class access_log {
 public:
  // Opens the sink named by the config ("-" stdout, "off" nothing, else a rotating file). Lines are queued
  // (up to 1 MiB) and written by the log's own thread every 250 ms, or sooner when half the queue is taken.
  // Throws std::runtime_error naming the path when the file cannot be opened.
  explicit access_log(const conf::access_log_config& config);
  // Writes what is queued (waiting at most log_writer::close_wait for the destination).
  ~access_log();

  bool enabled() const { return writer_ != nullptr; }
  // Any thread. Never waits for the destination: with the queue full, the line is dropped and counted.
  void write(const access_record& record);

 private:
  bool query_ = true;  // access_log.query: false logs paths without their query string
  std::unique_ptr<log_writer> writer_;
};

// `path` as the logs show it: whole, or without its query string (which may carry tokens) when `query` is
// false.
inline std::string_view loggable_path(std::string_view path, bool query) {
  return query ? path : path.substr(0, path.find('?'));
}

// Lines dropped since the process started because a log's destination could not keep up (for /metrics).
std::uint64_t access_log_dropped();
std::uint64_t operational_log_dropped();

// Appends `text` to `out` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view text);
// RFC 3339 UTC with milliseconds: "2026-11-26T06:58:35.932Z" (the access log's and the admin API's times).
void append_utc_time(std::string& out, std::chrono::system_clock::time_point t);

// Sets up the operational log on stderr at the given level ("info", "debug", ...): spdlog formats on the
// calling thread, a log_writer (up to 256 KiB queued) writes.
void setup_operational_log(const std::string& level);

}  // namespace drawbridge::proxy
