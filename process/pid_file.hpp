#pragma once
// `serve --pid-file PATH`: the pid to signal (kill -HUP $(cat PATH)), written when the proxy is up and
// removed when it exits, if it still holds this process's pid.

#include <sys/types.h>
#include <string>

namespace drawbridge::process {

class pid_file {
 public:
  pid_file() = default;
  ~pid_file();
  pid_file(const pid_file&) = delete;
  pid_file& operator=(const pid_file&) = delete;

  // Writes this process's pid to `path` (a temporary file renamed over it, so that a reader never sees
  // half a number). Returns the problem, empty on success.
  std::string write(const std::string& path);

 private:
  std::string path_;
};

}  // namespace drawbridge::process
