#pragma once
// A redis-server of the test's own (Debian's redis-server), without persistence: on a Unix socket in a
// scratch directory, or on a free 127.0.0.1 port. stop() and start() again on the same address stand for a
// Redis outage and its end (with its data gone, as a Redis without persistence comes back).

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "tests/support/scratch_dir.hpp"

namespace drawbridge::testing {

class redis_server {
 public:
  enum class transport { unix_socket, tcp, tls };  // tls: set_tls() before start()
  explicit redis_server(transport t = transport::unix_socket);
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // TLS with this certificate and key (the clients need no certificate); `ca_file` is for redis-cli.
  void set_tls(std::string cert, std::string key, std::string ca_file) {
    tls_cert_ = std::move(cert);
    tls_key_ = std::move(key);
    tls_ca_ = std::move(ca_file);
  }
  // AUTH for the default user (--requirepass).
  void set_password(std::string password) { password_ = std::move(password); }
  // False (with why in error()) when redis-server is missing or did not answer PING within 10 s.
  bool start();
  // SIGTERM, and waits for it to exit.
  void stop();
  // SIGSTOP / SIGCONT: a Redis that is there but does not answer.
  void pause();
  void resume();
  bool running() const { return pid_ > 0; }
  // What cluster.redis takes: "unix:///tmp/.../redis.sock" or "redis://127.0.0.1:PORT/0".
  std::string url() const;
  // A command through redis-cli (e.g. "HGETALL key"): its output, or "" when it failed.
  std::string cli(const std::string& command) const;
  const std::string& error() const { return error_; }

 private:
  bool answers_ping() const;

  transport transport_;
  scratch_dir dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
  std::string tls_cert_, tls_key_, tls_ca_, password_;
};

}  // namespace drawbridge::testing
