#!/usr/bin/env bash
# npm run fuzz: the C libFuzzer harnesses (firmware-host/scripts/fuzz.sh) and the TypeScript
# decoder fuzz, differential against the C host (scripts/fuzz-ts.ts), for FUZZ_SECONDS in total
# (default 60), split evenly over the four fuzzers. npm test runs it with FUZZ_SECONDS=24.
# FUZZ_SEED fixes the TS fuzzer's seed (printed on every run) to replay a finding.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOTAL="${FUZZ_SECONDS:-60}"
export FUZZ_SECONDS_EACH=$(( TOTAL / 4 > 0 ? TOTAL / 4 : 1 ))
node node_modules/typescript/bin/tsc -p tsconfig.json
bash firmware-host/scripts/build.sh --strict >/dev/null   # wf-verdict for the TS differential
status=0
bash firmware-host/scripts/fuzz.sh || status=1
node dist/scripts/fuzz-ts.js || status=1
exit $status
