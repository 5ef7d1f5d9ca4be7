#include "upstream/state_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace drawbridge::upstream {

using json = nlohmann::json;

namespace {

std::optional<admin_state> parse_admin(const std::string& s) {
  if (s == "ready") return admin_state::ready;
  if (s == "draining") return admin_state::draining;
  if (s == "drained") return admin_state::drained;
  return std::nullopt;
}

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<saved_state> load_state(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno != ENOENT) error = path + ": cannot read the state file: " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    const auto root = json::parse(text.str());
    saved_state state;
    for (const auto& u : root.at("upstreams")) {
      saved_upstream su;
      su.name = u.at("name").get<std::string>();
      for (const auto& n : u.at("nodes")) {
        saved_node sn;
        sn.name = n.at("name").get<std::string>();
        const auto address = conf::parse_host_port(n.at("address").get<std::string>());
        const auto admin = parse_admin(n.at("admin_state").get<std::string>());
        if (!address || !admin) throw std::runtime_error("node " + sn.name + ": bad address or admin_state");
        sn.address = *address;
        sn.admin = *admin;
        // As the config allows (1 to 1000); a float or a negative number would not convert cleanly.
        if (n.contains("weight")) {
          const auto& w = n.at("weight");
          if (!w.is_number_unsigned() || w.get<std::uint64_t>() < 1 || w.get<std::uint64_t>() > 1000)
            throw std::runtime_error("node " + sn.name + ": weight must be an integer from 1 to 1000");
          sn.weight = static_cast<std::uint32_t>(w.get<std::uint64_t>());
        }
        sn.added = n.value("added", false);
        su.nodes.push_back(std::move(sn));
      }
      if (u.contains("removed")) su.removed = u.at("removed").get<std::vector<std::string>>();
      state.upstreams.push_back(std::move(su));
    }
    return state;
  } catch (const std::exception& e) {
    error = path + ": the state file is not valid: " + e.what();
    return std::nullopt;
  }
}

bool save_state(const std::string& path, const saved_state& state, std::string& error) {
  json root;
  root["version"] = 1;
  root["upstreams"] = json::array();
  for (const auto& u : state.upstreams) {
    json ju{{"name", u.name}, {"nodes", json::array()}, {"removed", u.removed}};
    for (const auto& n : u.nodes)
      ju["nodes"].push_back({{"name", n.name},
                             {"address", conf::to_string(n.address)},
                             {"weight", n.weight},
                             {"admin_state", to_string(n.admin)},
                             {"added", n.added}});
    root["upstreams"].push_back(std::move(ju));
  }
  const std::string text = root.dump(2) + "\n";
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = temporary + ": " + std::strerror(errno);
    return false;
  }
  const bool written = write_all(fd, text) && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    error = path + ": " + std::strerror(written ? errno : saved_errno);
    ::unlink(temporary.c_str());
    return false;
  }
  // The rename itself is durable only once the directory is synced.
  const auto directory = std::filesystem::path(path).parent_path();
  const int dir_fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

}  // namespace drawbridge::upstream
