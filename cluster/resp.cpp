#include "cluster/resp.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

namespace drawbridge::cluster {

namespace {

reply convert(const redisReply& r) {
  reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.kind = reply::type::string;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = reply::type::status;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = reply::type::error;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = reply::type::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = reply::type::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
      break;
    default:
      out.kind = reply::type::nil;
  }
  return out;
}

}  // namespace

std::string encode_command(const std::vector<std::string>& args) {
  std::string out;
  auto line = [&out](char type, std::size_t n) {
    out.push_back(type);
    out.append(std::to_string(n));
    out.append("\r\n", 2);
  };
  line('*', args.size());
  for (const auto& a : args) {
    line('$', a.size());
    out.append(a);
    out.append("\r\n", 2);
  }
  return out;
}

struct reply_reader::state {
  redisReader* reader = redisReaderCreate();
  ~state() {
    if (reader != nullptr) redisReaderFree(reader);
  }
  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
};

reply_reader::reply_reader() : state_(std::make_unique<state>()) {}
reply_reader::~reply_reader() = default;

bool reply_reader::feed(const char* data, std::size_t size) {
  return state_->reader != nullptr && redisReaderFeed(state_->reader, data, size) == REDIS_OK;
}

reply_reader::result reply_reader::next(reply& out, std::string& error) {
  if (state_->reader == nullptr) {
    error = "out of memory for the Redis reply reader";
    return result::protocol_error;
  }
  void* raw = nullptr;
  if (redisReaderGetReply(state_->reader, &raw) != REDIS_OK) {
    error = state_->reader->errstr[0] != '\0' ? state_->reader->errstr : "not a Redis reply";
    return result::protocol_error;
  }
  if (raw == nullptr) return result::need_more;
  auto* r = static_cast<redisReply*>(raw);
  out = convert(*r);
  freeReplyObject(r);
  return result::reply;
}

}  // namespace drawbridge::cluster
