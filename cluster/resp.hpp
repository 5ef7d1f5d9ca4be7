#pragma once
// RESP, the protocol Redis speaks: commands out as arrays of bulk strings, replies in as a tree. The
// parsing is hiredis's reader (libhiredis), fed whatever bytes arrive; no I/O here.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace drawbridge::cluster {

struct reply {
  enum class type { string, status, error, integer, nil, array };
  type kind = type::nil;
  std::string text;  // string, status and error
  long long integer = 0;
  std::vector<reply> elements;  // array

  bool is_error() const { return kind == type::error; }
  bool is_nil() const { return kind == type::nil; }
};

// A command's words. (Not a braced list at the call: GCC 12 miscompiles an initializer_list of strings
// inside a coroutine, "array used as initializer".)
template <typename... Words>
std::vector<std::string> command(Words&&... words) {
  std::vector<std::string> out;
  out.reserve(sizeof...(words));
  (out.emplace_back(std::forward<Words>(words)), ...);
  return out;
}

// One command, ready for the socket: *N\r\n then $len\r\narg\r\n for each argument.
std::string encode_command(const std::vector<std::string>& args);

// Replies out of a byte stream that may split them anywhere.
class reply_reader {
 public:
  reply_reader();
  ~reply_reader();
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;

  // False once the stream is not RESP (the connection is then useless).
  bool feed(const char* data, std::size_t size);
  enum class result { reply, need_more, protocol_error };
  // The next whole reply into `out`; protocol_error with `error` set when the bytes are not RESP.
  result next(reply& out, std::string& error);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace drawbridge::cluster
