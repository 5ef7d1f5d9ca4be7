#include "process/pid_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace drawbridge::process {

std::string pid_file::write(const std::string& path) {
  const auto pid = std::to_string(::getpid());
  const auto temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << pid << '\n';
    out.flush();
    if (!out) return "--pid-file: cannot write " + temporary;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return "--pid-file: cannot rename " + temporary + " to " + path + ": " + why;
  }
  path_ = path;
  return {};
}

pid_file::~pid_file() {
  if (path_.empty()) return;
  // Another process (a newer drawbridge) may own the file by now: only our own pid is removed.
  std::ifstream in(path_);
  long pid = 0;
  if (in >> pid && pid == static_cast<long>(::getpid())) std::remove(path_.c_str());
}

}  // namespace drawbridge::process
