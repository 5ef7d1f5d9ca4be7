#pragma once
// Where an ACME listener's material lives under its `storage` directory: the account key, and one file
// named after the first domain holding the certificate chain (leaf first) and then its key: one file, so
// that replacing it (a rename) can never pair a certificate with another's key. The listener's TLS
// contexts read it at every (re)build; the ACME manager writes it. Both 0600.

#include <string>

#include "conf/config.hpp"

namespace drawbridge::tls {

inline std::string acme_account_key_path(const conf::acme_config& acme) { return acme.storage + "/account.key"; }
inline std::string acme_certificate_path(const conf::acme_config& acme) {
  return acme.storage + "/" + acme.domains.front() + ".pem";
}

}  // namespace drawbridge::tls
