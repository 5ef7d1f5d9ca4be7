#include "admin/tokens.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace drawbridge::admin {
namespace {

std::string sha256(std::string_view text) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<named_token> parse_token_lines(std::string_view text) {
  std::vector<named_token> tokens;
  while (!text.empty()) {
    const auto end = text.find('\n');
    auto line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    std::string name = "default";
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      name = std::string(trim(line.substr(0, colon)));
      line = trim(line.substr(colon + 1));
    }
    if (!line.empty()) tokens.push_back({std::move(name), std::string(line)});
  }
  return tokens;
}

token_set token_set::parse(std::string_view text) {
  token_set set;
  for (const auto& t : parse_token_lines(text)) set.tokens_.push_back({t.name, sha256(t.token)});
  return set;
}

token_set token_set::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("admin.token_file: cannot read \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  auto set = parse(text.str());
  if (set.empty()) throw std::runtime_error("admin.token_file: \"" + path + "\" holds no token");
  return set;
}

std::optional<std::string> token_set::check(std::string_view authorization) const {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)  // the scheme name is case-insensitive
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i])))
      return std::nullopt;
  const auto offered = sha256(trim(authorization.substr(scheme.size())));
  const entry* match = nullptr;
  for (const auto& t : tokens_)
    if (CRYPTO_memcmp(t.digest.data(), offered.data(), offered.size()) == 0 && !match) match = &t;
  if (!match) return std::nullopt;
  return match->name;
}

}  // namespace drawbridge::admin
