#pragma once
// Reads and validates a JSON config. Every problem is reported, each as "json.path: reason", so that
// `drawbridge check` can list them all at once instead of making the operator fix them one by one.

#include <string>
#include <vector>

#include "conf/config.hpp"

namespace drawbridge::conf {

struct load_result {
  config value;                     // meaningful only when errors is empty
  std::vector<std::string> errors;  // "upstreams[0].nodes[1].address: expected host:port, got \"x\""
  bool ok() const { return errors.empty(); }
};

// Parses JSON text. Syntax errors are reported with their byte offset.
load_result parse_config(const std::string& json_text);

// Reads the file, then parse_config. An unreadable file is one error naming the path.
load_result load_config_file(const std::string& path);

}  // namespace drawbridge::conf
