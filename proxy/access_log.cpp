#include "proxy/access_log.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <stdexcept>

namespace drawbridge::proxy {

access_log::access_log(const conf::access_log_config& config) {
  if (config.path == "off") return;
  try {
    if (config.path == "-") {
      logger_ = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else {
      logger_ = std::make_shared<spdlog::logger>(
          "access", std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                        config.path, static_cast<std::size_t>(config.max_size), config.max_files));
    }
  } catch (const spdlog::spdlog_ex& e) {
    throw std::runtime_error("access_log.path: cannot open \"" + config.path + "\": " + e.what());
  }
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
  flusher_ = std::thread([this] { flush_loop(); });
}

access_log::~access_log() {
  if (!logger_) return;
  {
    std::lock_guard lock(flush_mutex_);
    closing_ = true;
  }
  flush_wakeup_.notify_one();
  flusher_.join();
  logger_->flush();
}

void access_log::flush_loop() {
  std::unique_lock lock(flush_mutex_);
  while (!flush_wakeup_.wait_for(lock, std::chrono::milliseconds(250), [this] { return closing_; }))
    logger_->flush();
}

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        // Control bytes and non-ASCII bytes are escaped: the line stays valid JSON whatever the
        // client put in its request target.
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
}

void append_utc_time(std::string& out, std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                              static_cast<int>(ms % 1000));
  out.append(buf, static_cast<std::size_t>(n));
}

namespace {
void append_field(std::string& out, const char* name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":\"";
  append_json_escaped(out, value);
  out += '"';
}

void append_uint(std::string& out, const char* name, std::uint64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(value);
}

void append_number(std::string& out, const char* name, double value, int decimals) {
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, ",\"%s\":%.*f", name, decimals, value);
  out.append(buf, static_cast<std::size_t>(n));
}
}  // namespace

void access_log::write(const access_record& r) {
  if (!logger_) return;
  std::string line;
  line.reserve(320);
  line += "{\"time\":\"";
  append_utc_time(line, r.time);
  line += '"';
  append_field(line, "request_id", r.request_id);
  append_field(line, "client", r.client);
  append_field(line, "method", r.method);
  append_field(line, "path", r.path);
  append_uint(line, "status", r.status);
  append_uint(line, "bytes_in", r.bytes_in);
  append_uint(line, "bytes_out", r.bytes_out);
  append_field(line, "upstream", r.upstream);
  append_field(line, "node", r.node);
  append_number(line, "duration_ms", r.duration_ms, 3);
  if (r.upstream_ms >= 0) append_number(line, "upstream_ms", r.upstream_ms, 3);
  else line += ",\"upstream_ms\":null";
  line += '}';
  logger_->info(line);
}

void setup_operational_log(const std::string& level) {
  // Not registered by name, so that calling this twice (tests) replaces the logger instead of throwing.
  auto logger = std::make_shared<spdlog::logger>("drawbridge",
                                                 std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace drawbridge::proxy
