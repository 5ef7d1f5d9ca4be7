#pragma once
// ACME material as the replicas of a cluster share it through Redis: sealed with AES-256-GCM under a key
// from a file (cluster.acme_key_file), so that Redis, its backups and its network never see a private key.
// The Redis key name is the additional authenticated data: a sealed value moved to another name does not
// open.
//
// Format: "drawbridge-acme-v1:" + base64url(12-byte random nonce || ciphertext || 16-byte tag).

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace drawbridge::acme {

using sealing_key = std::array<unsigned char, 32>;

// The key from `path`: 64 hex digits (whitespace around them ignored). nullopt with `error` naming the file.
std::optional<sealing_key> read_sealing_key(const std::string& path, std::string& error);

std::string seal(const sealing_key& key, std::string_view name, std::string_view plaintext);
// nullopt when the value is not ours, was sealed under another key or name, or was altered.
std::optional<std::string> unseal(const sealing_key& key, std::string_view name, std::string_view sealed);

}  // namespace drawbridge::acme
