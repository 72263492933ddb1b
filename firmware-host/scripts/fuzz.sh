#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined) in
# firmware-host/build-fuzz and run each for a bounded time, seeded from protocol/corpus.
#
#   scripts/fuzz.sh                   every harness for FUZZ_SECONDS_EACH seconds (default 15)
#   scripts/fuzz.sh fuzz_cbor ...     only these harnesses
#
# Findings (crashes, leaks, timeouts, host-internal statuses on hostile input) are written to
# build-fuzz/artifacts/ and fail the run (exit 1). The growing corpus stays in build-fuzz/corpus/
# between runs; protocol/corpus is never modified. Prints one summary line per harness.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SECONDS_EACH="${FUZZ_SECONDS_EACH:-15}"
JOBS="${JOBS:-2}"
BUILD="$HERE/build-fuzz"
command -v clang >/dev/null 2>&1 || { echo "fuzz: clang not found (apt-get install clang libclang-rt-dev)" >&2; exit 1; }

cmake -S "$HERE" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWF_FUZZ=ON -DWF_WITH_WAMR=OFF -DWF_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fuzz_cbor fuzz_cose fuzz_messages >/dev/null

# which corpus kinds seed which harness
declare -A SEEDS=(
  [fuzz_cbor]="cbor hello report chunk_request chunk_response"
  [fuzz_cose]="keydoc"
  [fuzz_messages]="bundle hello report chunk_request chunk_response"
)
HARNESSES=("$@")
[[ ${#HARNESSES[@]} -eq 0 ]] && HARNESSES=(fuzz_cbor fuzz_cose fuzz_messages)
mkdir -p "$BUILD/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export WF_VECTORS_DIR="$ROOT/protocol/vectors"
status=0
for h in "${HARNESSES[@]}"; do
  work="$BUILD/corpus/$h"
  mkdir -p "$work"
  seeds=()
  for kind in ${SEEDS[$h]}; do seeds+=("$ROOT/protocol/corpus/$kind"); done
  log="$BUILD/$h.log"
  if "$BUILD/$h" "$work" "${seeds[@]}" -max_total_time="$SECONDS_EACH" -max_len=33792 -timeout=5 \
       -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$h-" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and $BUILD/artifacts/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  corpus=$(find "$work" -type f | wc -l)
  echo "fuzz $h: $result — ${runs} inputs in ${SECONDS_EACH} s (${speed}/s), coverage ${cov} edges, corpus ${corpus}"
  [[ $result == ok ]] || tail -30 "$log" >&2
done
exit $status
