#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>

namespace drawbridge::metrics {

namespace {

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (const char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quotes)
      out += "\\\"";
    else
      out += c;
  }
}

template <typename Number>
void append_number(std::string& out, Number value) {
  char text[64];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  out.append(text, ec == std::errc() ? end : text);
}

void append_double(std::string& out, double value) {
  if (std::isnan(value))
    out += "NaN";
  else if (std::isinf(value))
    out += value > 0 ? "+Inf" : "-Inf";
  else
    append_number(out, value);  // shortest form that reads back exactly
}

}  // namespace

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void exposition::series(std::string_view name, std::initializer_list<label> labels, label extra) {
  out_ += name;
  if (labels.size() == 0 && extra.first.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto one = [&](const label& l) {
    if (!first) out_ += ',';
    first = false;
    out_ += l.first;
    out_ += "=\"";
    append_escaped(out_, l.second, true);
    out_ += '"';
  };
  for (const auto& l : labels) one(l);
  if (!extra.first.empty()) one(extra);
  out_ += "} ";
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, double value) {
  series(name, labels);
  append_double(out_, value);
  out_ += '\n';
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value) {
  series(name, labels);
  append_number(out_, value);
  out_ += '\n';
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, std::int64_t value) {
  series(name, labels);
  append_number(out_, value);
  out_ += '\n';
}

void exposition::histogram(std::string_view name, std::initializer_list<label> labels, const histogram_totals& h) {
  const std::string base(name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    std::string le;
    if (i < duration_bounds.size())
      append_double(le, duration_bounds[i]);
    else
      le = "+Inf";
    series(base + "_bucket", labels, {"le", le});
    append_number(out_, cumulative);
    out_ += '\n';
  }
  series(base + "_sum", labels);
  append_double(out_, static_cast<double>(h.sum_us) / 1e6);
  out_ += '\n';
  series(base + "_count", labels);
  append_number(out_, cumulative);
  out_ += '\n';
}

}  // namespace drawbridge::metrics
