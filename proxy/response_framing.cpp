#include "proxy/response_framing.hpp"

namespace drawbridge::proxy {

framing_choice choose_framing(const framing_facts& f) {
  if (f.header_only) return {.framing = body_framing::none, .keep_alive = f.keep_alive};
  if (f.length && !f.body_rewritten)
    return {.framing = body_framing::length, .length = *f.length, .keep_alive = f.keep_alive};
  if (f.client_version == 11) return {.framing = body_framing::chunked, .keep_alive = f.keep_alive};
  // An HTTP/1.0 client learns the end of the body from the close.
  return {.framing = body_framing::until_close, .keep_alive = false};
}

}  // namespace drawbridge::proxy
