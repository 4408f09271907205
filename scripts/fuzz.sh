#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in build-fuzz/ (or
# $FUZZ_BUILD_DIR), after scripts/setup.sh when clang is missing, then runs each target for SECONDS (default 60), one at a time,
# niced, from its seed corpus tests/fuzz/corpus/<target>/. New inputs go to
# build-fuzz/fuzz-corpus/<target>/ (the seeds in git stay as they are), crash
# files to build-fuzz/fuzz-artifacts/. Prints one line per target (runs,
# executions per second, new corpus size) and exits 1 when any target found
# a crash, a leak, a timeout or a sanitizer report.
#
# Usage: scripts/fuzz.sh [-r] [-t SECONDS] [-j JOBS] [TARGET...]
#   TARGET: wire zone conf ctl state health_file nets countries mmdb (all by default)
#   -r: replay only: each target runs every seed of its corpus once, no
#       fuzzing (scripts/test.sh's fuzz phase); ends "N passed, N failed"
#   -j: make jobs for the build (default: the number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

seconds=60
jobs=$(nproc)
replay=0
while getopts "rt:j:h" opt; do
    case $opt in
    r) replay=1 ;;
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *)
        sed -n '2,/^set /p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
all=(wire zone conf ctl state health_file nets countries mmdb)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

# scripts/setup.sh installs what is missing, clang-14 and its sanitizer and
# libFuzzer runtimes (libclang-rt-14-dev) included.
if ! command -v clang >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null |
    grep -q 'install ok installed'; then
    scripts/setup.sh
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    ./autogen.sh >/dev/null
fi
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
mkdir -p "$build"
if [ ! -f "$build/Makefile" ] || ! grep -q -- '--enable-fuzzing' "$build/config.log"; then
    (cd "$build" && CC=clang "$top/configure" --enable-fuzzing >/dev/null)
fi
for t in "${targets[@]}"; do
    make -C "$build" -j"$jobs" "tests/fuzz/fuzz_$t" >/dev/null
done

failed=0
mkdir -p "$build/fuzz-artifacts"
if [ "$replay" = 1 ]; then
    # Every seed once (-runs=0: the corpus is read and run, nothing more).
    n_ok=0 n_bad=0
    for t in "${targets[@]}"; do
        log="$build/fuzz-artifacts/$t.replay.log"
        rc=0
        "$build/tests/fuzz/fuzz_$t" -runs=0 -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$build/fuzz-artifacts/$t-" "$top/tests/fuzz/corpus/$t" >"$log" 2>&1 ||
            rc=$?
        seeds=$(find "$top/tests/fuzz/corpus/$t" -type f | wc -l)
        if [ "$rc" -eq 0 ] && [ "$seeds" -gt 0 ] &&
            ! grep -qE 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log"; then
            echo "ok   - fuzz_$t: its $seeds seeds replayed clean"
            n_ok=$((n_ok + 1))
        else
            echo "FAIL - fuzz_$t: replay of $seeds seeds (exit $rc); see $log"
            grep -E 'runtime error|ERROR:|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/  /'
            n_bad=$((n_bad + 1))
        fi
    done
    echo "$n_ok passed, $n_bad failed"
    [ "$n_bad" -eq 0 ]
    exit
fi
for t in "${targets[@]}"; do
    seeds="$top/tests/fuzz/corpus/$t"
    work="$build/fuzz-corpus/$t"
    log="$build/fuzz-artifacts/$t.log"
    mkdir -p "$work"
    rc=0
    # -rss_limit_mb: each target loads a few MB; a leak or a blow-up shows here.
    nice -n 10 "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$seeds" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    size=$(find "$work" -type f | wc -l)
    if [ "$rc" -eq 0 ] && ! grep -qE 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log"; then
        echo "fuzz_$t: ok, ${runs:-?} runs in ${seconds} s (${speed:-?}/s), corpus $size files"
    else
        echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} runs; see $log"
        grep -E 'runtime error|ERROR:|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/  /'
        failed=1
    fi
done
exit "$failed"
