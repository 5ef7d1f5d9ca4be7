#include "proxy/access_log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include "proxy/log_writer.hpp"

namespace drawbridge::proxy {

namespace {

constexpr std::size_t access_queue_bytes = 1 << 20;
constexpr std::size_t operational_queue_bytes = 256 << 10;
constexpr std::chrono::milliseconds access_latency{250};

// Process-wide, like the logs themselves: a scrape reads them without reaching for the log objects.
std::atomic<std::uint64_t> access_dropped{0};
std::atomic<std::uint64_t> operational_dropped{0};

// The rotating file, fed line by line on the writer's thread (rotation happens between two lines).
log_writer::destination write_to_rotating_file(std::shared_ptr<spdlog::sinks::rotating_file_sink_st> sink) {
  return [sink = std::move(sink)](std::string_view lines) -> std::string_view {
    try {
      while (!lines.empty()) {
        const auto end = lines.find('\n');
        const spdlog::details::log_msg msg(spdlog::source_loc{}, "access", spdlog::level::info, lines.substr(0, end));
        sink->log(msg);
        lines.remove_prefix(end + 1);
      }
      sink->flush();
    } catch (const spdlog::spdlog_ex&) {
      // A full disk or a file that cannot be reopened: this line and the rest of the batch are dropped.
    }
    return lines;
  };
}

}  // namespace

std::uint64_t access_log_dropped() { return access_dropped.load(std::memory_order_relaxed); }
std::uint64_t operational_log_dropped() { return operational_dropped.load(std::memory_order_relaxed); }

access_log::access_log(const conf::access_log_config& config) : query_(config.query) {
  if (config.path == "off") return;
  log_writer::destination out;
  if (config.path == "-") {
    out = write_to_fd(STDOUT_FILENO);
  } else {
    try {
      auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_st>(
          config.path, static_cast<std::size_t>(config.max_size), config.max_files);
      sink->set_pattern("%v");
      out = write_to_rotating_file(std::move(sink));
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("access_log.path: cannot open \"" + config.path + "\": " + e.what());
    }
  }
  writer_ = std::make_unique<log_writer>(std::move(out), access_queue_bytes, access_latency, access_dropped);
}

access_log::~access_log() = default;

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
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
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
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
  if (!writer_) return;
  // Formatted on the worker's thread into a buffer that keeps its capacity: no allocation per request.
  thread_local std::string line;
  line.clear();
  line += "{\"time\":\"";
  append_utc_time(line, r.time);
  line += '"';
  append_field(line, "request_id", r.request_id);
  append_field(line, "client", r.client);
  append_field(line, "method", r.method);
  append_field(line, "path", loggable_path(r.path, query_));
  append_field(line, "protocol", r.protocol);
  append_uint(line, "status", r.status);
  append_uint(line, "bytes_in", r.bytes_in);
  append_uint(line, "bytes_out", r.bytes_out);
  append_field(line, "upstream", r.upstream);
  append_field(line, "node", r.node);
  append_number(line, "duration_ms", r.duration_ms, 3);
  if (r.upstream_ms >= 0)
    append_number(line, "upstream_ms", r.upstream_ms, 3);
  else
    line += ",\"upstream_ms\":null";
  line += '}';
  writer_->push(line);
}

namespace {

// The operational log's spdlog sink: spdlog formats on the logging thread, a log_writer writes to the fd.
// Colours the level as spdlog's console sinks do when the fd is a terminal.
class queued_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit queued_sink(int fd)
      : colour_(::isatty(fd) != 0),
        writer_(write_to_fd(fd), operational_queue_bytes, std::chrono::milliseconds(0), operational_dropped) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string_view text(formatted.data(), formatted.size());
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (!colour_ || msg.color_range_end <= msg.color_range_start || msg.color_range_end > text.size()) {
      writer_.push(text);
      return;
    }
    static constexpr std::string_view codes[] = {"\033[37m",        "\033[36m",        "\033[32m", "\033[33m\033[1m",
                                                 "\033[31m\033[1m", "\033[1m\033[41m", ""};
    line_.assign(text.substr(0, msg.color_range_start));
    line_ += codes[std::min<std::size_t>(static_cast<std::size_t>(msg.level), std::size(codes) - 1)];
    line_ += text.substr(msg.color_range_start, msg.color_range_end - msg.color_range_start);
    line_ += "\033[m";
    line_ += text.substr(msg.color_range_end);
    writer_.push(line_);
  }
  void flush_() override {}  // the writer writes as soon as it can; nothing is held back here

 private:
  bool colour_;
  std::string line_;  // under base_sink's mutex
  log_writer writer_;
};

}  // namespace

void setup_operational_log(const std::string& level) {
  // Not registered by name, so that calling this twice (tests) replaces the logger instead of throwing.
  auto logger = std::make_shared<spdlog::logger>("drawbridge", std::make_shared<queued_sink>(STDERR_FILENO));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace drawbridge::proxy
