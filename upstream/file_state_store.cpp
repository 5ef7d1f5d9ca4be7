#include "upstream/file_state_store.hpp"

#include <boost/asio/post.hpp>

namespace drawbridge::upstream {

file_state_store::file_state_store(std::string path, net_types::executor completions)
    : path_(std::move(path)), completions_(std::move(completions)), writer_([this] { run(); }) {}

file_state_store::~file_state_store() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void file_state_store::save(saved_state snapshot, save_handler done) {
  {
    const std::lock_guard lock(mutex_);
    pending_ = std::move(snapshot);  // only the newest matters: it holds every change before it
    waiting_.push_back(std::move(done));
    if (!work_) work_.emplace(boost::asio::make_work_guard(completions_));
  }
  wake_.notify_one();
}

void file_state_store::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return pending_ || stopping_; });
    if (!pending_) return;  // stopping, and everything asked for is written
    const saved_state snapshot = std::move(*pending_);
    pending_.reset();
    auto handlers = std::move(waiting_);
    waiting_.clear();
    lock.unlock();
    std::string error;
    if (!save_state(path_, snapshot, error) && error.empty()) error = path_ + ": cannot write the state file";
    boost::asio::post(completions_, [handlers = std::move(handlers), error = std::move(error)] {
      for (const auto& done : handlers) done(error);
    });
    lock.lock();
    if (!pending_) work_.reset();  // after the post: the io_context runs until the handlers have
  }
}

}  // namespace drawbridge::upstream
