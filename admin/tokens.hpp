#pragma once
// Bearer tokens for the admin API, read from `admin.token_file`: one token per line, either `TOKEN` (named
// "default") or `NAME:TOKEN`; blank lines and lines starting with # are skipped. The name goes into the
// audit log, so that a drain can be traced to the script or person that asked for it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drawbridge::admin {

struct named_token {
  std::string name;
  std::string token;
};

// The token file's lines, in order, as the server reads them (the command line takes the first one).
std::vector<named_token> parse_token_lines(std::string_view text);

class token_set {
 public:
  // Throws std::runtime_error naming the file when it cannot be read or holds no token.
  static token_set load(const std::string& path);
  static token_set parse(std::string_view text);  // the same, from text

  bool empty() const { return tokens_.empty(); }
  // The name of the token that matches the Authorization header's `Bearer ...` value; nullopt otherwise.
  // Compares digests in constant time, and always compares against every token, so that the timing tells
  // nothing about how much of a guess was right.
  std::optional<std::string> check(std::string_view authorization) const;

 private:
  struct entry {
    std::string name;
    std::string digest;  // SHA-256 of the token
  };
  std::vector<entry> tokens_;
};

}  // namespace drawbridge::admin
