#!/usr/bin/env bash
# Builds squant (installing packages when missing) and runs the lit suite.
# Ends with one line of counts: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SQUANT_BUILD_DIR:-build}"
bash scripts/setup.sh || exit 1
cmake --build "$BUILD_DIR" --target squant-test-deps >/dev/null || exit 1

log="$(mktemp)"
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
count() {
  local n
  n=$(sed -n "s/^ *$1 *: *\([0-9]*\).*/\1/p" "$log" | tail -n 1)
  echo "${n:-0}"
}
passed=$(( $(count Passed) + $(count "Expectedly Failed") ))
failed=$(( $(count Failed) + $(count "Unexpectedly Passed") + $(count Unresolved) + $(count "Timed Out") ))
skipped=$(( $(count Unsupported) + $(count Skipped) + $(count Excluded) ))
rm -f "$log"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
