#!/usr/bin/env bash
# Build the POSIX host (wasmfleet-device) and the unit tests (ASan + UBSan) in
# firmware-host/build, reusing it between runs.
#
#   scripts/build.sh            lenient: when cmake, a C compiler, libsodium or libmosquitto
#                               headers are missing, or the pinned WAMR sources cannot be
#                               fetched, say so and exit 0 having built nothing (so an
#                               `npm install` hook never breaks)
#   scripts/build.sh --strict   the same checks fail the build (CI)
#
# Environment: WAMR_ROOT (use these WAMR 2.4.x sources instead of fetching), JOBS (default 2).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STRICT=0
[[ "${1:-}" == "--strict" ]] && STRICT=1
JOBS="${JOBS:-2}"

skip() {
  echo "firmware-host: $1 — skipping the C build." >&2
  echo "firmware-host: install with: apt-get install cmake gcc libsodium-dev libmosquitto-dev" >&2
  if [[ $STRICT == 1 ]]; then exit 1; fi
  exit 0
}

command -v cmake >/dev/null 2>&1 || skip "cmake not found"
CC_BIN="${CC:-cc}"
command -v "$CC_BIN" >/dev/null 2>&1 || skip "no C compiler ($CC_BIN)"
has_header() { echo "#include <$1>" | "$CC_BIN" -E -x c - >/dev/null 2>&1; }
has_header sodium.h || skip "libsodium headers not found (libsodium-dev)"
has_header mosquitto.h || skip "libmosquitto headers not found (libmosquitto-dev)"

if [[ -z "${WAMR_ROOT:-}" ]]; then
  bash "$HERE/scripts/fetch-deps.sh" || skip "could not fetch the pinned WAMR sources (set WAMR_ROOT)"
fi

mkdir -p "$HERE/build"
cmake -S "$HERE" -B "$HERE/build" -DCMAKE_BUILD_TYPE=Debug -DWF_SANITIZE=ON \
  ${WAMR_ROOT:+-DWAMR_ROOT="$WAMR_ROOT"} >"$HERE/build/build.log" 2>&1 || { cat "$HERE/build/build.log" >&2; exit 1; }
cmake --build "$HERE/build" -j "$JOBS" >>"$HERE/build/build.log" 2>&1 || { tail -40 "$HERE/build/build.log" >&2; exit 1; }
echo "firmware-host: built $HERE/build/wasmfleet-device and the unit tests"
