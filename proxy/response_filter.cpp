#include "proxy/response_filter.hpp"

namespace drawbridge::proxy {

bool response_filters::add(response_filter& filter) {
  if (count_ == capacity) return false;
  all_[count_++] = &filter;
  return true;
}

void response_filters::start(const response_facts& facts, boost::beast::http::response_header<>& head) {
  active_count_ = 0;
  for (std::size_t i = 0; i < count_; ++i)
    if (all_[i]->start(facts, head)) active_[active_count_++] = all_[i];
}

bool response_filters::whole_body() const {
  if (active_count_ == 0) return false;
  for (std::size_t i = 0; i < active_count_; ++i)
    if (!active_[i]->wants_whole_body()) return false;
  return true;
}

void response_filters::transform(std::string_view in, filter_flush flush, std::string& out) {
  // Each filter but the last writes into one of two buffers in turn, read by the next.
  for (std::size_t i = 0; i + 1 < active_count_; ++i) {
    auto& next = between_[i % 2];
    next.clear();
    active_[i]->transform(in, flush, next);
    in = next;
  }
  if (active_count_ > 0) active_[active_count_ - 1]->transform(in, flush, out);
}

}  // namespace drawbridge::proxy
