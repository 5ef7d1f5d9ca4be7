#pragma once
// A fresh directory under /tmp for one test, removed with everything in it when the test is done.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace drawbridge::testing {

class scratch_dir {
 public:
  scratch_dir() {
    std::string pattern = "/tmp/drawbridge-test-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("scratch_dir: mkdtemp failed");
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ignored;  // a test may have removed it, or made it a file
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::string& path() const { return path_; }
  // A path inside it (the file need not exist).
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace drawbridge::testing
