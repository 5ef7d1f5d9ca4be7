#pragma once
// A TLS "node" for the upstream TLS tests: drawbridge itself, in-process, with an HTTPS listener whose
// certificate `ca` issued for `dns` (or `name`), in front of a fake node named `name`. It stops as its
// parts do: the proxy first (members are destroyed in reverse), then the fake node.

#include <string>
#include <vector>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_certs.hpp"

namespace drawbridge::testing {

struct tls_node {
  tls_node(const test_ca& ca, const std::string& name, const std::vector<std::string>& dns)
      : backend({name}), cert(ca.issue(name, dns.empty() ? name : dns.front(), dns)), proxy(config(backend, cert)) {}

  fake_node backend;
  pem_files cert;
  proxy_under_test proxy;

 private:
  static conf::config config(const fake_node& backend, const pem_files& cert) {
    auto c = admin_test_config({backend.port()}, false);
    use_tls(c, {cert});
    return c;
  }
};

}  // namespace drawbridge::testing
