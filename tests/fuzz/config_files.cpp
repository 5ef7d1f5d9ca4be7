// What an operator writes and drawbridge reads back: the JSON config (conf/config_loader.hpp), the state
// file (upstream/state_store.hpp), durations, sizes and addresses (conf/units.hpp, conf/address.hpp) and
// the admin token file (admin/tokens.hpp).
//
// Input: byte 0 picks the reader (modulo 4: config, state file, units and addresses, tokens); the rest is
// the text.
// Checks: no reader throws (but where it documents it) or crashes on any text, and
//  - a config that loads has no errors listed, one that does not has every error in "path: reason" form;
//  - a state file that loads is saved and loaded again to the same state;
//  - a duration, size or address that parses is formatted and parsed again to the same value;
//  - every token of a token file is recognised as "Bearer <token>" under a name it was given, and a token
//    set that is empty is refused when loaded from a file.

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "admin/tokens.hpp"
#include "conf/address.hpp"
#include "conf/config_loader.hpp"
#include "conf/units.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "upstream/state_store.hpp"

using namespace drawbridge;

namespace {

std::string scratch_dir;  // made once per process, removed at exit

void write_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  FUZZ_CHECK(out.good());
}

void remove_scratch() {
  for (const char* name : {"/state.json", "/saved.json", "/saved.json.tmp", "/tokens"})
    ::unlink((scratch_dir + name).c_str());
  ::rmdir(scratch_dir.c_str());
}

bool same_state(const upstream::saved_state& a, const upstream::saved_state& b) {
  if (a.upstreams.size() != b.upstreams.size()) return false;
  for (std::size_t u = 0; u < a.upstreams.size(); ++u) {
    const auto& x = a.upstreams[u];
    const auto& y = b.upstreams[u];
    if (x.name != y.name || x.removed != y.removed || x.nodes.size() != y.nodes.size()) return false;
    for (std::size_t n = 0; n < x.nodes.size(); ++n) {
      const auto& p = x.nodes[n];
      const auto& q = y.nodes[n];
      if (p.name != q.name || !(p.address == q.address) || p.weight != q.weight || p.admin != q.admin ||
          p.added != q.added)
        return false;
    }
  }
  return true;
}

void config(std::string_view text) {
  const auto result = conf::parse_config(std::string(text));
  for (const auto& e : result.errors) FUZZ_CHECK(!e.empty() && e.find(": ") != std::string::npos);
}

void state_file(std::string_view text) {
  const auto path = scratch_dir + "/state.json";
  write_file(path, text);
  std::string error;
  const auto state = upstream::load_state(path, error);
  FUZZ_CHECK(state.has_value() == error.empty());
  if (!state) return;
  const auto saved = scratch_dir + "/saved.json";
  FUZZ_CHECK(upstream::save_state(saved, *state, error));
  const auto again = upstream::load_state(saved, error);
  if (!again) std::fprintf(stderr, "a saved state does not load: %s\n", error.c_str());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(same_state(*state, *again));
}

void units(std::string_view text) {
  if (const auto d = conf::parse_duration(text)) {
    FUZZ_CHECK(d->count() >= 0);
    FUZZ_CHECK(conf::parse_duration(conf::format_duration(*d)) == d);
  }
  if (const auto s = conf::parse_size(text)) FUZZ_CHECK(conf::parse_size(conf::format_size(*s)) == s);
  if (const auto hp = conf::parse_host_port(text)) {
    FUZZ_CHECK(!hp->host.empty());
    FUZZ_CHECK(conf::parse_host_port(conf::to_string(*hp)) == hp);
  }
}

void tokens(std::string_view text) {
  const auto lines = admin::parse_token_lines(text);
  const auto set = admin::token_set::parse(text);
  FUZZ_CHECK(set.empty() == lines.empty());
  for (const auto& t : lines) {
    const auto name = set.check("Bearer " + t.token);
    FUZZ_CHECK(name.has_value());
    // Under its own name, or under another line's with the same token.
    bool named = false;
    for (const auto& u : lines) named |= u.token == t.token && u.name == *name;
    FUZZ_CHECK(named);
  }
  (void)set.check(text);  // the whole input as an Authorization header
  const auto path = scratch_dir + "/tokens";
  write_file(path, text);
  try {
    const auto loaded = admin::token_set::load(path);
    FUZZ_CHECK(!lines.empty() && !loaded.empty());
  } catch (const std::runtime_error&) {
    FUZZ_CHECK(lines.empty());  // documented: a file without a token is refused
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";  // fsync is free on tmpfs
  std::string templ = std::string(base) + "/drawbridge-fuzz-XXXXXX";
  FUZZ_CHECK(::mkdtemp(templ.data()) != nullptr);
  scratch_dir = templ;
  std::atexit(remove_scratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto text = fuzz::as_text(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      config(text);
      break;
    case 1:
      state_file(text);
      break;
    case 2:
      units(text);
      break;
    default:
      tokens(text);
      break;
  }
  return 0;
}
