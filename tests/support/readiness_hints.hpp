#pragma once
// For tests of what the fast I/O path knows about a socket (net/readiness.hpp): built with
// DRAWBRIDGE_PORTABLE_IO there is nothing to know, so such a test is skipped there, saying why. Tests of
// behaviour (a wait completes, a dead pooled connection is noticed) run on both paths.

#include <gtest/gtest.h>

#include "net/readiness.hpp"

#define SKIP_WITHOUT_READINESS_HINTS()                                                                   \
  do {                                                                                                   \
    if (!drawbridge::net_types::readiness_hints)                                                         \
      GTEST_SKIP() << "the portable I/O path (DRAWBRIDGE_PORTABLE_IO) keeps no readiness hints to test"; \
  } while (false)
