#pragma once
// Session-ticket keys for every TLS listener of the process, kept in memory only and rotated: a new key
// encrypts tickets every `rotation`, the previous one still decrypts them (and asks for a renewed ticket),
// older ones are forgotten. Shared by all certificates and reloads, so that a reload does not end every
// client's resumption. Any thread (OpenSSL calls it during handshakes); a mutex guards the keys.

#include <openssl/types.h>

#include <chrono>

namespace drawbridge::tls {

// Installs the ticket callback on a server context.
void use_rotating_ticket_keys(SSL_CTX* ctx);

// How often the encrypting key changes (tickets live up to twice as long).
inline constexpr std::chrono::hours ticket_key_rotation{12};

}  // namespace drawbridge::tls
