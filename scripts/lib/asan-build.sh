# Sourced by scripts/test --sanitize and scripts/fuzz: the one clang-14 build with AddressSanitizer,
# UndefinedBehaviorSanitizer and libFuzzer's coverage instrumentation, in build-asan/. The test suite and
# the fuzz harnesses share it, so CI compiles it once.
# -O1 -g1: the sanitizers' usual level (what they find does not need -O2) and line tables for readable
# stacks; about half the compile time of -O2 -g. No NDEBUG: our and Beast's assertions stay on.
asan_build=build-asan

configure_asan_build() {
  scripts/install-deps --fuzz
  # A build-asan/ configured with another compiler (g++, before the fuzzers moved in) cannot be switched
  # in place: CMake would keep the old compiler's cache.
  if [[ -f "$asan_build/CMakeCache.txt" ]] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$asan_build/CMakeCache.txt"; then
    local kept
    kept=$(mktemp -d)  # the fuzz corpus grown there is kept
    if [[ -d "$asan_build/corpus" ]]; then mv "$asan_build/corpus" "$kept/"; fi
    rm -rf "$asan_build"
    mkdir -p "$asan_build"
    if [[ -d "$kept/corpus" ]]; then mv "$kept/corpus" "$asan_build/"; fi
    rm -rf "$kept"
  fi
  cmake -S . -B "$asan_build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DDRAWBRIDGE_SANITIZE=ON "$@" >/dev/null
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  if [[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]]; then
    export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
  fi
}
