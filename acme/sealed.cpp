#include "acme/sealed.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "acme/jws.hpp"

namespace drawbridge::acme {

namespace {

constexpr std::string_view prefix = "drawbridge-acme-v1:";
constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

std::optional<sealing_key> read_sealing_key(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot read the ACME sealing key";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string hex;
  for (const char c : text.str())
    if (!std::isspace(static_cast<unsigned char>(c))) hex.push_back(c);
  sealing_key key{};
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    error = path + ": expected 64 hex digits (32 random bytes: openssl rand -hex 32)";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return key;
}

std::string seal(const sealing_key& key, std::string_view name, std::string_view plaintext) {
  std::string out(nonce_size + plaintext.size() + tag_size, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  cipher_ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  const bool ok =
      ctx && RAND_bytes(bytes, nonce_size) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), bytes) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(name.data()),
                        static_cast<int>(name.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), bytes + nonce_size, &length,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), bytes + nonce_size + length, &length) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_size, bytes + nonce_size + plaintext.size()) == 1;
  if (!ok) throw std::runtime_error("cannot seal with AES-256-GCM");
  return std::string(prefix) + base64url(out);
}

std::optional<std::string> unseal(const sealing_key& key, std::string_view name, std::string_view sealed) {
  if (!sealed.starts_with(prefix)) return std::nullopt;
  const auto raw = base64url_decode(sealed.substr(prefix.size()));
  if (!raw || raw->size() < nonce_size + tag_size) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw->data());
  const std::size_t size = raw->size() - nonce_size - tag_size;
  std::string plaintext(size, '\0');
  cipher_ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  std::array<unsigned char, tag_size> tag{};
  std::copy(bytes + nonce_size + size, bytes + raw->size(), tag.begin());
  const bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), bytes) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(name.data()),
                        static_cast<int>(name.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &length, bytes + nonce_size,
                        static_cast<int>(size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_size, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + length, &length) == 1;
  if (!ok) return std::nullopt;
  return plaintext;
}

}  // namespace drawbridge::acme
