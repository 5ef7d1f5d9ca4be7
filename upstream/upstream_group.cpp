#include "upstream/upstream_group.hpp"

#include <boost/asio/io_context.hpp>

namespace drawbridge::upstream {

resolve_result build_upstreams(const std::vector<conf::upstream_config>& upstreams) {
  namespace net = boost::asio;
  using tcp = net::ip::tcp;
  resolve_result result;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  for (std::size_t u = 0; u < upstreams.size(); ++u) {
    const auto& cfg = upstreams[u];
    auto group = std::make_shared<upstream_group>();
    group->name = cfg.name;
    group->balance = cfg.balance;
    group->keepalive = cfg.keepalive;
    for (std::size_t n = 0; n < cfg.nodes.size(); ++n) {
      const auto& nc = cfg.nodes[n];
      boost::system::error_code ec;
      auto results = resolver.resolve(nc.address.host, std::to_string(nc.address.port),
                                      tcp::resolver::numeric_service, ec);
      std::vector<tcp::endpoint> endpoints;
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
      if (ec || endpoints.empty()) {
        result.errors.push_back("upstreams[" + std::to_string(u) + "].nodes[" + std::to_string(n) +
                                "].address: cannot resolve \"" + nc.address.host + "\": " +
                                (ec ? ec.message() : std::string("no addresses")));
        continue;
      }
      group->nodes.push_back(std::make_shared<node>(nc.name, nc.address, nc.weight, std::move(endpoints)));
    }
    result.groups.push_back(std::move(group));
  }
  return result;
}

}  // namespace drawbridge::upstream
