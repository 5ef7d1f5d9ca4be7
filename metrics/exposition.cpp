#include "metrics/exposition.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <iterator>
#include <string>
#include <unordered_map>

namespace drawbridge::metrics {

std::string expose(const collector_list& collectors) {
  std::vector<prometheus::MetricFamily> families;
  std::unordered_map<std::string, std::size_t> index;  // name -> position in families
  for (const auto& c : collectors) {
    if (!c) continue;
    for (auto& f : c->Collect()) {
      const auto at = index.find(f.name);
      // (A name reused with another type stays a family of its own, for promtool to point out.)
      if (at != index.end() && families[at->second].type == f.type) {
        auto& into = families[at->second].metric;
        into.insert(into.end(), std::make_move_iterator(f.metric.begin()), std::make_move_iterator(f.metric.end()));
        continue;
      }
      index.emplace(f.name, families.size());
      families.push_back(std::move(f));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace drawbridge::metrics
