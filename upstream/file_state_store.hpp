#pragma once
// The embedded state store: one JSON file (the format of state_store.hpp's load_state/save_state),
// replaced atomically on every save by a writer thread of its own, so that the fsyncs never hold up the
// control thread.

#include <boost/asio/executor_work_guard.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/stream.hpp"
#include "upstream/state_store.hpp"

namespace drawbridge::upstream {

class file_state_store final : public state_store {
 public:
  // `completions`: where every save's handler runs (the control thread's io_context). While a save is
  // under way the store holds work on it, so that the io_context runs until the handler has run.
  file_state_store(std::string path, net_types::executor completions);
  // Writes what was asked before, then ends the writer thread. Handlers posted to an io_context that no
  // longer runs are destroyed with it, unrun.
  ~file_state_store() override;
  file_state_store(const file_state_store&) = delete;
  file_state_store& operator=(const file_state_store&) = delete;

  std::optional<saved_state> load(std::string& error) override { return load_state(path_, error); }
  void save(saved_state snapshot, save_handler done) override;
  // Never calls `changed`: the file has one writer, this process. (Watching its mtime would only see our
  // own saves, or an operator's edit that a restart is the documented way to apply.)
  void watch(watch_handler changed) override { (void)changed; }
  std::string describe() const override { return "state file " + path_; }

 private:
  void run();

  std::string path_;
  net_types::executor completions_;
  std::mutex mutex_;
  std::condition_variable wake_;
  // The newest snapshot not yet being written, and the handlers its write answers (its own and those of
  // the snapshots it replaced: it holds their changes too).
  std::optional<saved_state> pending_;
  std::vector<save_handler> waiting_;
  std::optional<boost::asio::executor_work_guard<net_types::executor>> work_;
  bool stopping_ = false;
  std::thread writer_;  // last: starts once everything above is ready
};

}  // namespace drawbridge::upstream
