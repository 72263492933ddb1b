#!/usr/bin/env bash
# Build (strict) and run the C unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
# through CTest; prints each test's own "N passed, N failed" line and ctest's summary.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$HERE/scripts/build.sh" --strict
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$HERE/build"
ctest --output-on-failure -j 2 2>&1 | tee ctest.log
grep -h "passed, .* failed" Testing/Temporary/LastTest.log | sed 's/^/  /' || true
