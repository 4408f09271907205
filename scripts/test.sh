#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and
# integration); ends with one line "N passed, N failed, N skipped" that
# counts each unit test case and each integration check. A skip fails the
# run unless EXPECTED_SKIPS says how many are expected. Set SANITIZE=1 to build and run
# under AddressSanitizer and UBSan (in build-asan/).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = 1 ]; then
    export BUILD_DIR=${BUILD_DIR:-$PWD/build-asan}
    export CONFIGURE_FLAGS="${CONFIGURE_FLAGS:-} --enable-sanitizers"
fi
build=${BUILD_DIR:-$PWD/build}
scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

# Results of earlier runs are removed, and only results newer than the
# stamp are counted: a stale .trs can never pass for this run.
find "$build/tests" \( -name '*.trs' -o -name '*.log' \) -delete 2>/dev/null
touch "$build/check.stamp"
if [ "${SANITIZE:-0}" = 1 ]; then
    # Slower under the sanitizers; and reload_memory.sh cannot measure
    # resident memory there (quarantine, no malloc_trim): one expected skip.
    export TEST_TIMEOUT=${TEST_TIMEOUT:-900} EXPECTED_SKIPS=${EXPECTED_SKIPS:-1}
fi
make -C "$build" -j"$(nproc)" check >"$build/check.out" 2>&1
status=$?
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$build/check.out"
# shellcheck disable=SC2046 # one word per test
python3 scripts/test-summary.py "$build" "$status" $(make -s -C "$build" print-tests) || status=1
exit $status
