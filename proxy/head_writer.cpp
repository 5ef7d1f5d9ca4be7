#include "proxy/head_writer.hpp"

#include <boost/beast/http/status.hpp>

namespace drawbridge::proxy {
namespace http = boost::beast::http;

namespace {
void append_version(std::string& out, unsigned version) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

void append_fields(const http::fields& fields, std::string& out) {
  for (const auto& field : fields) {
    const auto name = field.name_string();
    const auto value = field.value();
    out.append(name.data(), name.size());
    out += ": ";
    out.append(value.data(), value.size());
    out += "\r\n";
  }
  out += "\r\n";
}
}  // namespace

void write_request_head(const http::request_header<>& head, std::string& out) {
  out.clear();
  const auto method = head.method_string();
  const auto target = head.target();
  out.append(method.data(), method.size());
  out += ' ';
  out.append(target.data(), target.size());
  out += ' ';
  append_version(out, head.version());
  out += "\r\n";
  append_fields(head, out);
}

void write_response_head(const http::response_header<>& head, std::string& out) {
  out.clear();
  append_version(out, head.version());
  const unsigned status = head.result_int();
  out += ' ';
  out += static_cast<char>('0' + status / 100 % 10);
  out += static_cast<char>('0' + status / 10 % 10);
  out += static_cast<char>('0' + status % 10);
  out += ' ';
  auto reason = head.reason();
  if (reason.empty()) reason = http::obsolete_reason(static_cast<http::status>(status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  append_fields(head, out);
}

void set_framing(http::fields& fields, body_framing framing, std::uint64_t length) {
  fields.erase(http::field::content_length);
  fields.erase(http::field::transfer_encoding);
  if (framing == body_framing::length)
    fields.set(http::field::content_length, std::to_string(length));
  else if (framing == body_framing::chunked)
    fields.set(http::field::transfer_encoding, "chunked");
}

void tidy_header_only_framing(http::response_header<>& head, std::optional<std::uint64_t> length) {
  const unsigned status = head.result_int();
  if (status < 200 || status == 204) {
    head.erase(http::field::content_length);
    head.erase(http::field::transfer_encoding);
    return;
  }
  if (head.find(http::field::content_length) != head.end()) {
    head.erase(http::field::transfer_encoding);
    if (length)
      head.set(http::field::content_length, std::to_string(*length));  // set() replaces every field of the name
    else
      head.erase(http::field::content_length);  // not reached: the parser gives the length it accepted
  } else if (head.version() == 10) {
    head.erase(http::field::transfer_encoding);
  }
}

void set_keep_alive(http::fields& fields, unsigned version, bool keep) {
  fields.erase(http::field::connection);
  if (version == 11 && !keep)
    fields.set(http::field::connection, "close");
  else if (version == 10 && keep)
    fields.set(http::field::connection, "keep-alive");
}

}  // namespace drawbridge::proxy
