#pragma once
// The files of an ACME listener (tls/acme_files.hpp for their names): the account key, made on first use,
// and the issued certificate with its key. Written owner-only (0600, in a 0700 directory) and atomically:
// a temporary file, fsync, rename, fsync of the directory, so that a crash leaves the old file or the new
// one, never half of one.

#include <optional>
#include <string>

#include "conf/config.hpp"
#include "tls/certificate.hpp"

namespace drawbridge::acme {

// The account key under acme.storage, created (with the directory) when there is none. nullptr with
// `error` naming the file.
tls::pkey_ptr load_or_create_account_key(const conf::acme_config& acme, std::string& error);

// Stores an issued chain and its key as the listener's certificate (the directory made if need be). The
// problem, if any (nothing is replaced then).
std::optional<std::string> store_certificate(const conf::acme_config& acme, const std::string& chain_pem,
                                             const std::string& key_pem);
// The same with both in one PEM text, chain first (what store_certificate writes, and what replicas share).
std::optional<std::string> store_bundle(const conf::acme_config& acme, const std::string& pem);
// The chain and key store_certificate writes, as one text.
std::string bundle(const std::string& chain_pem, const std::string& key_pem);

// Writes `content` to `path` as above. The problem, if any.
std::optional<std::string> write_private_file(const std::string& path, const std::string& content);

}  // namespace drawbridge::acme
