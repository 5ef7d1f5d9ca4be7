// BOOST_ASSERT in the clang sanitizer build, tests and fuzz harnesses alike (BOOST_ENABLE_ASSERT_HANDLER,
// see the top-level CMakeLists.txt): Boost's assertions stay on, and a failed one aborts like any other
// finding, except one that Beast 1.81 has wrong.
#include <boost/assert.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  // Beast 1.81's parse_chunk_header asserts n >= 5 when it resumes after a last chunk's "0\r\n", but the
  // rest may arrive a byte at a time ("0\r\n\r" is 4 bytes); the code after the assertion handles it
  // (need_more). Later Beast corrected the assertion (boostorg/beast pull request 2861).
  if (std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "beast/http/impl/basic_parser.ipp") != nullptr) return;
  std::fprintf(stderr, "assertion failed: %s in %s (%s:%ld)\n", expr, function, file, line);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  std::fprintf(stderr, "assertion failed: %s (%s) in %s (%s:%ld)\n", expr, msg, function, file, line);
  std::abort();
}

}  // namespace boost
