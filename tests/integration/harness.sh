#!/usr/bin/env bash
# harness.sh: the test harness itself can fail. Small scripts built on
# lib.sh show that a failed check followed by a skip fails, that a daemon
# which crashed or exited non-zero fails the script at teardown, and that a
# hang is stopped by tests/run-bounded.sh; scripts/test-summary.py is run
# on made-up results to show that stale results, hidden skips and missing
# results fail the count.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig timeout "$PYTHON"

H="$WORKDIR/h"
mkdir -p "$H"
# mkscript NAME BODY: a test script that sources lib.sh and runs BODY.
mkscript() {
    {
        echo '#!/usr/bin/env bash'
        echo ". \"$LIB_DIR/lib.sh\""
        printf '%s\n' "$2"
    } >"$H/$1.sh"
    chmod +x "$H/$1.sh"
}
# runscript NAME: runs it like automake does; sets S_RC and S_OUT.
runscript() {
    S_RC=0
    S_OUT=$(cd "$H" && top_srcdir="$top_srcdir" top_builddir="$top_builddir" \
        MERIDIAND="$MERIDIAND" TEST_TIMEOUT="${2:-60}" \
        "$top_srcdir/tests/run-bounded.sh" "$H/$1.sh" 2>&1) || S_RC=$?
}
expect_script() { # NAME WANT-RC PATTERN DESCRIPTION
    if [ "$S_RC" = "$2" ] && grep -qE -- "$3" <<<"$S_OUT"; then
        pass "$1: $4 (exit $S_RC)"
    else
        local -a show
        mapfile -t show <<<"$S_OUT"
        fail "$1: $4" "expected: exit $2 and a line matching /$3/" "got:      exit $S_RC" \
            "output:" "${show[@]}"
    fi
}

echo "## verdicts"
mkscript good 'pass "one"; finish'
runscript good
expect_script good 0 '^good: 1/1 checks passed, 0 skipped$' "a passing script exits 0"

mkscript failed 'fail "one"; finish'
runscript failed
expect_script failed 1 '^failed: 0/1 checks passed' "a failed check exits 1"

mkscript skip_after_fail 'fail "first part"; skip "a tool is missing"'
runscript skip_after_fail
expect_script skip_after_fail 1 'asked to skip .* after 1 failed' \
    "a skip after a failed check fails, it is not recorded as SKIP"

mkscript skip_clean 'skip "a tool is missing"'
runscript skip_clean
expect_script skip_clean 77 '^SKIP: a tool is missing' "a skip before any failure exits 77"

mkscript partial 'pass "one"; skip_checks 3 "no data file"; finish'
runscript partial
expect_script partial 0 '^partial: 1/1 checks passed, 3 skipped$' \
    "skipped checks are counted in the closing line"

echo "## absence needs a reply"
# Nothing listens on the port these ask: every assertion of an absence
# must fail, where before it passed against the silence.
dead=$(free_port)
for a in "assert_no_out NSID" "assert_noflag tc" "assert_count answer 0" "assert_answer" \
    "assert_no_raw compressed=no x"; do
    mkscript absent "PORT=$dead; q www.example.com A; ask_raw --q www.example.com/A; $a; finish"
    runscript absent
    expect_script "absent ($a)" 1 'no reply, so nothing can be said to be absent' \
        "against a silent port, '$a' fails"
done

echo "## daemons' exit status at teardown"
mkscript daemon_ok "start_meridiand \"$DATA/basic/meridian.yaml\"; q www.example.com A
assert_rcode NOERROR; finish"
runscript daemon_ok
expect_script daemon_ok 0 'checks passed' "a daemon that exits 0 on SIGTERM passes"

mkscript daemon_crash "start_meridiand \"$DATA/basic/meridian.yaml\"; q www.example.com A
assert_rcode NOERROR; kill -SEGV \"\$MERIDIAND_PID\"; sleep 0.5; finish"
runscript daemon_crash
# 139 (SIGSEGV); under AddressSanitizer its handler reports and exits 1.
expect_script daemon_crash 1 'FAIL - meridiand .* at teardown: exit status (139|1),' \
    "a daemon that crashed before teardown fails the script"

mkscript daemon_hang_exit "start_meridiand \"$DATA/basic/meridian.yaml\"; kill -STOP \"\$MERIDIAND_PID\"
pass 'stopped it'; finish"
runscript daemon_hang_exit
expect_script daemon_hang_exit 1 'FAIL - meridiand .* at teardown: exit status killed' \
    "a daemon that does not exit on SIGTERM fails the script"

echo "## time limit"
mkscript hang 'pass "started"; sleep 600; finish'
runscript hang 2
expect_script hang 1 'did not finish within 2 s' "a hanging script is stopped and fails"

echo "## test-summary.py"
B="$WORKDIR/build"
mkdir -p "$B/tests/unit" "$B/tests/integration"
# result DIR NAME RESULT LOG-BODY: a .trs/.log pair as automake writes them.
result() {
    printf ':test-result: %s\n' "$3" >"$B/$1/$2.trs"
    printf '%s\n' "$4" >"$B/$1/$2.log"
}
summary() { # EXPECTED_SKIPS TEST...
    local want=$1
    shift
    S_RC=0
    S_OUT=$(EXPECTED_SKIPS=$want "$PYTHON" "$top_srcdir/scripts/test-summary.py" "$B" 0 "$@" 2>&1) ||
        S_RC=$?
}
expect_summary() { # WANT-RC WANT-LINE DESCRIPTION
    local last
    last=$(tail -n 1 <<<"$S_OUT")
    if [ "$S_RC" = "$1" ] && [ "$last" = "$2" ]; then
        pass "summary: $3: $last"
    else
        local -a show
        mapfile -t show <<<"$S_OUT"
        fail "summary: $3" "expected: exit $1, '$2'" "got:      exit $S_RC, '$last'" "${show[@]}"
    fi
}
# Results older than the stamp (scripts/test.sh touches it before the run)
# are stale.
result tests/unit test_old PASS '[  PASSED  ] 5 test(s).'
sleep 1
touch "$B/check.stamp"
sleep 1
result tests/unit test_a PASS '[  PASSED  ] 4 test(s).'
result tests/unit test_skip PASS $'[  PASSED  ] 2 test(s).\n[  SKIPPED ] 1 test(s), listed below:\n[  SKIPPED ] test_needs_data'
result tests/integration a.sh PASS 'a: 3/3 checks passed, 0 skipped'
result tests/integration p.sh PASS $'SKIP - 2 checks: no tool\np: 1/1 checks passed, 2 skipped'
result tests/integration s.sh SKIP 'SKIP: not root'
result tests/integration f.sh FAIL 'f: 2/3 checks passed, 0 skipped'
result tests/integration crash.sh FAIL 'f: 3/3 checks passed, 0 skipped'

summary 0 tests/unit/test_a tests/integration/a.sh
expect_summary 0 "7 passed, 0 failed, 0 skipped" "fresh passing results"
summary 0 tests/unit/test_a tests/unit/test_old
expect_summary 1 "4 passed, 1 failed, 0 skipped" "a stale .trs is a failure, never a pass"
summary 0 tests/unit/test_a tests/unit/test_gone
expect_summary 1 "4 passed, 1 failed, 0 skipped" "a listed test with no result is a failure"
summary 0 tests/unit/test_skip
expect_summary 1 "2 passed, 1 failed, 1 skipped" "a cmocka skip is counted and fails when not expected"
summary 1 tests/unit/test_skip
expect_summary 0 "2 passed, 0 failed, 1 skipped" "an expected skip passes"
summary 0 tests/integration/p.sh tests/integration/s.sh
expect_summary 1 "1 passed, 1 failed, 3 skipped" "partial and whole-script skips are counted"
summary 0 tests/integration/f.sh tests/integration/crash.sh
expect_summary 1 "5 passed, 2 failed, 0 skipped" "a failed check and a non-zero exit both fail"
summary 0
expect_summary 1 "0 passed, 1 failed, 0 skipped" "no tests at all is a failure"

finish
