#include "upstream/node.hpp"

namespace drawbridge::upstream {

node::node(std::string name, conf::host_port address, std::uint32_t weight,
           std::vector<boost::asio::ip::tcp::endpoint> endpoints)
    : name_(std::move(name)),
      address_text_(conf::to_string(address)),
      weight_(weight),
      endpoints_(std::move(endpoints)) {}

}  // namespace drawbridge::upstream
