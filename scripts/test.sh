#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite; ends
# with one line "N passed, N failed, N skipped" that counts every unit test
# case, every integration check and every fuzz corpus replayed, over all
# phases. A skip fails the run unless EXPECTED_SKIPS says how many are
# expected.
#
# Phases, in order (TEST_PHASES="build fuzz" picks some):
#   build  make check in build/ (or $BUILD_DIR)
#   fuzz   the libFuzzer targets built with clang in build-fuzz/, each
#          replaying its seed corpus (scripts/fuzz.sh -r); one test a target
#   asan   make check again under AddressSanitizer and UBSan in build-asan/
# SANITIZE=1 runs the asan phase alone.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
if [ "${SANITIZE:-0}" = 1 ]; then
    phases=${TEST_PHASES:-asan}
else
    phases=${TEST_PHASES:-build fuzz asan}
fi

total_p=0 total_f=0 total_s=0
# count PHASE P F S: adds a phase's counts and prints them.
count() {
    echo "# $1: $2 passed, $3 failed, $4 skipped"
    total_p=$((total_p + $2)) total_f=$((total_f + $3)) total_s=$((total_s + $4))
}

# check_phase NAME BUILD-DIR CONFIGURE-FLAGS EXPECTED-SKIPS TIMEOUT: set-up
# and make check in BUILD-DIR, counted by scripts/test-summary.py.
check_phase() {
    local name=$1 build=$2 counts
    counts="$build/summary.counts"
    if ! BUILD_DIR="$build" CONFIGURE_FLAGS="$3" scripts/setup.sh; then
        count "$name" 0 1 0
        return
    fi
    # Results of earlier runs are removed, and only results newer than the
    # stamp are counted: a stale .trs can never pass for this run.
    find "$build/tests" \( -name '*.trs' -o -name '*.log' \) -delete 2>/dev/null
    rm -f "$counts"
    touch "$build/check.stamp"
    local status=0
    TEST_TIMEOUT=${TEST_TIMEOUT:-$5} make -C "$build" -j"$(nproc)" check \
        >"$build/check.out" 2>&1 || status=$?
    grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$build/check.out"
    # shellcheck disable=SC2046 # one word per test
    EXPECTED_SKIPS=${EXPECTED_SKIPS:-$4} SUMMARY_COUNTS="$counts" \
        python3 scripts/test-summary.py "$build" "$status" $(make -s -C "$build" print-tests)
    if [ -s "$counts" ]; then
        # shellcheck disable=SC2046 # three numbers
        count "$name" $(cat "$counts")
    else
        count "$name" 0 1 0
    fi
}

for phase in $phases; do
    case $phase in
    build)
        check_phase build "${BUILD_DIR:-$top/build}" "${CONFIGURE_FLAGS:-}" 0 300
        ;;
    fuzz)
        out=$(scripts/fuzz.sh -r 2>&1)
        printf '%s\n' "$out" | grep -E '^(ok|FAIL|  )'
        if [[ "$(tail -n 1 <<<"$out")" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            count fuzz "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" 0
        else
            printf '%s\n' "$out" | tail -n 20
            count fuzz 0 1 0
        fi
        ;;
    asan)
        # Slower under the sanitizers; and resident memory cannot be
        # measured there (quarantine, no malloc_trim): expected skips, one
        # in reload_memory.sh, four in ctl_limits.sh (two per flood).
        # A pointer into a returned frame is caught, not read by luck.
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1}
        check_phase asan "${ASAN_BUILD_DIR:-$top/build-asan}" \
            "${CONFIGURE_FLAGS:-} --enable-sanitizers" 5 900
        ;;
    *)
        echo "test.sh: unknown phase '$phase' (build, fuzz, asan)"
        count "$phase" 0 1 0
        ;;
    esac
done
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
