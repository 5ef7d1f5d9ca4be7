#include "upstream/state_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

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

// A problem in the file, at a place named like a config error: "upstreams[0].nodes[1].weight: ...".
struct bad_state : std::runtime_error {
  bad_state(const std::string& where, const std::string& what) : std::runtime_error(where + ": " + what) {}
};

const json& member(const json& object, const std::string& where, const char* key) {
  if (!object.is_object()) throw bad_state(where, "expected an object");
  if (!object.contains(key)) throw bad_state(where + "." + key, "required");
  return object.at(key);
}

std::string string_at(const json& object, const std::string& where, const char* key) {
  const json& v = member(object, where, key);
  if (!v.is_string()) throw bad_state(where + "." + key, "expected a string");
  return v.get<std::string>();
}

// Non-empty and not seen before (the config's rule for upstream and node names).
std::string name_at(const json& object, const std::string& where, std::set<std::string>& seen, const char* what) {
  auto name = string_at(object, where, "name");
  if (name.empty()) throw bad_state(where + ".name", "must not be empty");
  if (!seen.insert(name).second)
    throw bad_state(where + ".name", std::string("duplicate ") + what + " name \"" + name + "\"");
  return name;
}

saved_node read_node(const json& n, const std::string& where, std::set<std::string>& names) {
  saved_node sn;
  sn.name = name_at(n, where, names, "node");
  if (n.contains("added")) {
    if (!n.at("added").is_boolean()) throw bad_state(where + ".added", "expected true or false");
    sn.added = n.at("added").get<bool>();
  }
  // Only the admin API adds nodes, and it takes no other names.
  if (sn.added && !valid_added_node_name(sn.name))
    throw bad_state(where + ".name",
                    "an added node's name must be 1 to 64 letters, digits, '-', '_' or '.', got \"" + sn.name + "\"");
  const auto address = conf::parse_host_port(string_at(n, where, "address"));
  if (!address || address->port == 0) throw bad_state(where + ".address", "expected host:port");
  sn.address = *address;
  const auto admin = parse_admin(string_at(n, where, "admin_state"));
  if (!admin) throw bad_state(where + ".admin_state", "expected ready, draining or drained");
  sn.admin = *admin;
  if (n.contains("weight")) {
    const json& w = n.at("weight");
    if (!w.is_number_unsigned() || w.get<std::uint64_t>() < 1 || w.get<std::uint64_t>() > 1000)
      throw bad_state(where + ".weight", "expected an integer from 1 to 1000 (as in the config), got " + w.dump());
    sn.weight = w.get<std::uint32_t>();
  }
  return sn;
}

saved_upstream read_upstream(const json& u, const std::string& where, std::set<std::string>& upstream_names) {
  saved_upstream su;
  su.name = name_at(u, where, upstream_names, "upstream");
  const json& nodes = member(u, where, "nodes");
  if (!nodes.is_array()) throw bad_state(where + ".nodes", "expected an array");
  std::set<std::string> node_names;
  for (std::size_t k = 0; k < nodes.size(); ++k)
    su.nodes.push_back(read_node(nodes[k], where + ".nodes[" + std::to_string(k) + "]", node_names));
  if (u.contains("removed")) {
    const json& removed = u.at("removed");
    if (!removed.is_array()) throw bad_state(where + ".removed", "expected an array");
    for (std::size_t k = 0; k < removed.size(); ++k) {
      if (!removed[k].is_string() || removed[k].get<std::string>().empty())
        throw bad_state(where + ".removed[" + std::to_string(k) + "]", "expected a node name");
      su.removed.push_back(removed[k].get<std::string>());
    }
  }
  return su;
}

saved_state read_state(const json& root) {
  if (!root.is_object()) throw bad_state("(document)", "expected an object");
  if (root.contains("version") && root.at("version") != 1) throw bad_state("version", "expected 1");
  const json& upstreams = member(root, "(document)", "upstreams");
  if (!upstreams.is_array()) throw bad_state("upstreams", "expected an array");
  saved_state state;
  std::set<std::string> upstream_names;
  for (std::size_t i = 0; i < upstreams.size(); ++i)
    state.upstreams.push_back(read_upstream(upstreams[i], "upstreams[" + std::to_string(i) + "]", upstream_names));
  return state;
}

json write_upstream(const saved_upstream& u) {
  json ju{{"name", u.name}, {"nodes", json::array()}, {"removed", u.removed}};
  for (const auto& n : u.nodes)
    ju["nodes"].push_back({{"name", n.name},
                           {"address", conf::to_string(n.address)},
                           {"weight", n.weight},
                           {"admin_state", to_string(n.admin)},
                           {"added", n.added}});
  return ju;
}

// A new file at `path`, for writing; never through a symbolic link, never an existing file.
int create_new(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
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
    return read_state(json::parse(text.str()));
  } catch (const std::exception& e) {
    error = path + ": the state file is not valid: " + e.what();
    return std::nullopt;
  }
}

bool save_state(const std::string& path, const saved_state& state, std::string& error) {
  json root;
  root["version"] = 1;
  root["upstreams"] = json::array();
  for (const auto& u : state.upstreams) root["upstreams"].push_back(write_upstream(u));
  const std::string text = root.dump(2) + "\n";
  const std::string temporary = path + ".tmp";
  int fd = create_new(temporary);
  if (fd < 0 && (errno == EEXIST || errno == ELOOP)) {
    // Left by a crash between open and rename, or planted. unlink removes a symbolic link itself, not what
    // it points to; should something be back at once, this save fails rather than write through it.
    ::unlink(temporary.c_str());
    fd = create_new(temporary);
  }
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

std::string upstream_to_json(const saved_upstream& u) { return write_upstream(u).dump(); }

std::optional<saved_upstream> upstream_from_json(std::string_view text, std::string& error) {
  try {
    std::set<std::string> names;
    return read_upstream(json::parse(text), "(upstream)", names);
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

bool valid_added_node_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const unsigned char c : name)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace drawbridge::upstream
