#include "process/upgrade_handover.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <system_error>

extern char** environ;

namespace drawbridge::process {

namespace {

using json = nlohmann::json;

constexpr std::size_t max_handover_bytes = 16 * 1024 * 1024;

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

bool is_listening_socket(int fd) {
  int listening = 0;
  socklen_t size = sizeof listening;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening != 0;
}

std::string read_all(int fd) {
  std::string text;
  if (::lseek(fd, 0, SEEK_SET) != 0) fail("cannot rewind");
  char chunk[64 * 1024];
  for (;;) {
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read");
    if (n == 0) return text;
    text.append(chunk, static_cast<std::size_t>(n));
    if (text.size() > max_handover_bytes) throw std::runtime_error("larger than 16 MiB");
  }
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const auto n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write");
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Takes descriptor `value` (a JSON number) from the handover: it must be open and not named twice; it is
// owned from here on and made close-on-exec.
owned_fd take_fd(const json& value, std::set<int>& seen, const std::string& where) {
  if (!value.is_number_integer()) throw std::runtime_error(where + ": not a descriptor");
  const int fd = value.get<int>();
  if (fd < 3 || !seen.insert(fd).second) throw std::runtime_error(where + ": descriptor " + std::to_string(fd));
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)
    throw std::runtime_error(where + ": descriptor " + std::to_string(fd) + " is not open");
  return owned_fd(fd);
}

}  // namespace

std::optional<handover> take_handover(std::string& error) {
  const char* value = std::getenv(handover_variable);
  if (value == nullptr) return std::nullopt;
  const std::string text_fd = value;
  ::unsetenv(handover_variable);
  int number = -1;
  const auto [end, ec] = std::from_chars(text_fd.data(), text_fd.data() + text_fd.size(), number);
  if (ec != std::errc{} || end != text_fd.data() + text_fd.size() || number < 3) {
    error = std::string(handover_variable) + "=" + text_fd + ": not a descriptor";
    return std::nullopt;
  }
  try {
    std::set<int> seen;
    const owned_fd memfd = take_fd(json(number), seen, handover_variable);
    const auto description = json::parse(read_all(memfd.get()), nullptr, /*allow_exceptions=*/false);
    if (!description.is_object()) throw std::runtime_error("not a JSON object");
    handover h;
    for (const auto& l : description.value("listeners", json::array())) {
      inherited_listener taken;
      taken.address = l.at("address").get<std::string>();
      for (const auto& fd : l.at("fds")) {
        taken.fds.push_back(take_fd(fd, seen, "listener " + taken.address));
        if (!is_listening_socket(taken.fds.back().get()))
          throw std::runtime_error("listener " + taken.address + ": not a listening socket");
      }
      h.listeners.push_back(std::move(taken));
    }
    if (description.contains("admin")) {
      h.admin = take_fd(description["admin"], seen, "admin");
      if (!is_listening_socket(h.admin.get())) throw std::runtime_error("admin: not a listening socket");
      h.admin_address = description.value("admin_address", "");
    }
    h.ready = take_fd(description.at("ready"), seen, "ready");
    h.stderr_of_old = take_fd(description.at("stderr"), seen, "stderr");
    h.confirm = take_fd(description.at("confirm"), seen, "confirm");
    if (description.contains("health") && description["health"].is_object()) h.health = description["health"];
    return h;
  } catch (const std::exception& e) {
    error = std::string("the handover from the old process (") + handover_variable + "): " + e.what();
    return std::nullopt;
  }
}

std::string report_ready(handover& h) {
  if (h.stderr_of_old) {
    std::fflush(stderr);
    if (::dup2(h.stderr_of_old.get(), STDERR_FILENO) < 0)
      return std::string("cannot take the old process's stderr: ") + std::strerror(errno);
    h.stderr_of_old.reset();
  }
  if (!h.ready) return "no descriptor to report ready on";
  try {
    write_all(h.ready.get(), "ready " + std::to_string(::getpid()) + " " + DRAWBRIDGE_VERSION + "\n");
  } catch (const std::system_error& e) {
    return std::string("cannot report ready to the old process: ") + e.what();
  }
  h.ready.reset();
  return {};
}

successor start_successor(const std::string& exe, const std::vector<std::string>& args, const handover& h) {
  successor out;
  // What the successor gets lands on descriptors 3, 4, ... in it, in this order (its handover names those
  // numbers); everything from there up is closed in it. Here each is first copied above the range, so
  // that no dup2 of the spawn overwrites a descriptor a later one still reads.
  std::vector<int> given;
  std::vector<owned_fd> copies;
  auto give = [&](int fd) {
    given.push_back(fd);
    return static_cast<int>(3 + given.size() - 1);
  };
  try {
    json description = json::object();
    description["listeners"] = json::array();
    for (const auto& l : h.listeners) {
      json fds = json::array();
      for (const auto& fd : l.fds) fds.push_back(give(fd.get()));
      description["listeners"].push_back({{"address", l.address}, {"fds", fds}});
    }
    if (h.admin) {
      description["admin"] = give(h.admin.get());
      description["admin_address"] = h.admin_address;
    }
    description["health"] = h.health;

    int ready_pipe[2];
    int output_pipe[2];
    int confirm_pipe[2];
    if (::pipe2(ready_pipe, O_CLOEXEC) != 0) fail("cannot make a pipe");
    out.ready = owned_fd(ready_pipe[0]);
    const owned_fd ready_write(ready_pipe[1]);
    if (::pipe2(output_pipe, O_CLOEXEC) != 0) fail("cannot make a pipe");
    out.output = owned_fd(output_pipe[0]);
    const owned_fd output_write(output_pipe[1]);
    if (::pipe2(confirm_pipe, O_CLOEXEC) != 0) fail("cannot make a pipe");
    const owned_fd confirm_read(confirm_pipe[0]);
    out.confirm = owned_fd(confirm_pipe[1]);
    description["ready"] = give(ready_write.get());
    description["stderr"] = give(STDERR_FILENO);
    description["confirm"] = give(confirm_read.get());

    const owned_fd memfd(::memfd_create("drawbridge-upgrade", MFD_CLOEXEC));
    if (!memfd) fail("memfd_create");
    write_all(memfd.get(), description.dump());
    const int memfd_there = give(memfd.get());
    const int first_free = 3 + static_cast<int>(given.size());
    for (const int fd : given) {
      copies.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, first_free));
      if (!copies.back()) fail("cannot duplicate descriptor " + std::to_string(fd));
    }

    std::vector<std::string> env_strings;
    const std::string prefix = std::string(handover_variable) + "=";
    for (char** e = environ; e != nullptr && *e != nullptr; ++e)
      if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) env_strings.emplace_back(*e);
    env_strings.push_back(prefix + std::to_string(memfd_there));
    std::vector<char*> envp;
    envp.reserve(env_strings.size() + 1);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> arg_strings = args;
    std::vector<char*> argv;
    argv.reserve(arg_strings.size() + 1);
    for (auto& s : arg_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attributes);
    ::posix_spawn_file_actions_adddup2(&actions, output_write.get(), STDERR_FILENO);
    for (std::size_t i = 0; i < copies.size(); ++i)  // the copy is close-on-exec; dup2's result is not
      ::posix_spawn_file_actions_adddup2(&actions, copies[i].get(), static_cast<int>(3 + i));
    ::posix_spawn_file_actions_addclosefrom_np(&actions, first_free);
    // A fresh start: no signal blocked, every signal at its default (this thread's mask and dispositions
    // are not the successor's business).
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attributes, &none);
    ::posix_spawnattr_setsigdefault(&attributes, &all);
    ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attributes, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
      out = successor{};
      out.error = "cannot start " + exe + ": " + std::strerror(rc);
      return out;
    }
    out.pid = pid;
  } catch (const std::exception& e) {
    out = successor{};
    out.error = std::string("cannot start ") + exe + ": " + e.what();
  }
  return out;
}

}  // namespace drawbridge::process
