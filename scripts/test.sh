#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and
# integration); ends with one line "N passed, N failed" that counts each
# unit test case and each integration check. Set SANITIZE=1 to build and run
# under AddressSanitizer and UBSan (in build-asan/).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = 1 ]; then
    export BUILD_DIR=${BUILD_DIR:-$PWD/build-asan}
    export CONFIGURE_FLAGS="${CONFIGURE_FLAGS:-} --enable-sanitizers"
fi
build=${BUILD_DIR:-$PWD/build}
scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

make -C "$build" -j"$(nproc)" check >"$build/check.out" 2>&1
status=$?
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$build/check.out"
python3 scripts/test-summary.py "$build" "$status" || status=1
exit $status
