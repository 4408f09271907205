#!/usr/bin/env bash
# cli.sh: meridiand's command line and life cycle.
#
# Covers: --version ("meridiand 0.1.0"), --help, an unknown option; --check
# on a good config (exit 0), on a zone with warnings only (exit 0, warning
# shown), on a zone with two errors (exit 1, both reported as file:line:),
# on a config with two errors (exit 1, file:line:column: for both), on a
# YAML syntax error and on a missing zone file (exit 1); starting with a bad
# zone or a bad config exits 1 with the same messages and never answers;
# SIGTERM and SIGINT stop a running daemon with exit 0; log lines on
# stderr start with an ISO 8601 UTC time with milliseconds, and with the
# journal's "<N>" priority instead when JOURNAL_STREAM names stderr's
# device and inode (not when it names another file).
#
# Data: data/cli/ (bad.example.zone has errors on lines 7 and 8,
# badconf.yaml on lines 5 and 6) and data/basic/meridian.yaml.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig
C="$DATA/cli"

echo "## --version, --help"
run_meridiand --version
expect_rc 0
expect_output '^meridiand 0\.1\.0$' "prints 'meridiand 0.1.0'"
run_meridiand --help
expect_rc 0
expect_output '(-c|--config)' "mentions -c"
expect_output '--check' "mentions --check"
expect_output '--listen' "mentions --listen"
run_meridiand --no-such-option
expect_rc 2 # meridiand(8): 2 for a usage error
expect_output "unrecognized option '--no-such-option'" "names the unknown option"
expect_output '^Usage: meridiand ' "prints the usage"

echo "## --check"
run_meridiand --check -c "$DATA/basic/meridian.yaml"
expect_rc 0
run_meridiand --check -c "$C/warnzone.yaml"
expect_rc 0
expect_output 'warn\.example\.zone:[0-9]+: ' "the warning names file:line"

run_meridiand --check -c "$C/badzone.yaml"
expect_rc 1
expect_output 'bad\.example\.zone:7: ' "line 7 (bad address) reported as file:line:"
expect_output 'bad\.example\.zone:8: ' "line 8 (unknown type) reported as file:line:"

run_meridiand --check -c "$C/badconf.yaml"
expect_rc 1
expect_output 'badconf\.yaml:5:[0-9]+: ' "the unknown key reported as file:line:column:"
expect_output 'badconf\.yaml:6:[0-9]+: ' "the bad max_udp_size reported as file:line:column:"

run_meridiand --check -c "$C/badyaml.yaml"
expect_rc 1
expect_output 'badyaml\.yaml:[0-9]+:[0-9]+: ' "the syntax error reported as file:line:column:"

run_meridiand --check -c "$C/missingzone.yaml"
expect_rc 1
expect_output 'no-such-file\.example\.zone' "the missing zone file is named"

run_meridiand --check -c "$C/no-such-config.yaml"
expect_rc 1

echo "## starting with bad input exits 1"
for conf in badzone badconf missingzone; do
    port=$(free_port)
    run_meridiand -c "$C/$conf.yaml" --listen "127.0.0.1:$port"
    expect_rc 1
    case $conf in
    badzone) expect_output 'bad\.example\.zone:7: ' "the zone error is printed" ;;
    badconf) expect_output 'badconf\.yaml:5:[0-9]+: ' "the config error is printed" ;;
    missingzone) expect_output 'no-such-file\.example\.zone' "the missing file is named" ;;
    esac
done

echo "## log lines"
STAMP_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z meridiand: '
# log_form LOG JOURNAL_STREAM PATTERN DESCRIPTION: starts meridiand with
# stderr to LOG and that JOURNAL_STREAM ("" for none); every line of its
# log must match PATTERN.
log_form() {
    local log=$1 journal=$2 pattern=$3 what=$4
    : >"$log"
    if [ -n "$journal" ]; then
        JOURNAL_STREAM=$journal t_start_daemon "$log" "$MERIDIAND" \
            -c "$DATA/basic/meridian.yaml" --listen "127.0.0.1:%PORT%"
    else
        t_start_daemon "$log" "$MERIDIAND" -c "$DATA/basic/meridian.yaml" \
            --listen "127.0.0.1:%PORT%"
    fi
    t_kill "$T_PID"
    local bad
    bad=$(grep -cvE -- "$pattern" "$log" || true)
    if [ -s "$log" ] && [ "$bad" = 0 ]; then
        pass "$what: $(head -n 1 "$log")"
    else
        local -a show
        mapfile -t show <"$log"
        fail "$what" "expected every line to match: $pattern" "log:" "${show[@]}"
    fi
}
log_form "$WORKDIR/plain.log" "" "$STAMP_RE" "stderr to a file: time stamps"
: >"$WORKDIR/journal.log"
log_form "$WORKDIR/journal.log" "$(stat -c '%d:%i' "$WORKDIR/journal.log")" \
    '^<[0-7]>meridiand: ' "stderr is the journal: priorities, no time stamps"
: >"$WORKDIR/other"
log_form "$WORKDIR/inherited.log" "$(stat -c '%d:%i' "$WORKDIR/other")" "$STAMP_RE" \
    "JOURNAL_STREAM of another file: time stamps"

echo "## signals"
for sig in TERM INT; do
    start_meridiand "$DATA/basic/meridian.yaml"
    q www.example.com A
    assert_rcode NOERROR "running before SIG$sig"
    kill -"$sig" "$MERIDIAND_PID"
    rc=timeout
    for _ in $(seq 50); do
        if ! kill -0 "$MERIDIAND_PID" 2>/dev/null; then
            rc=0
            wait "$MERIDIAND_PID" || rc=$?
            break
        fi
        sleep 0.1
    done
    if [ "$rc" = 0 ]; then
        pass "SIG$sig: meridiand exited with status 0"
    else
        fail "SIG$sig: expected exit status 0 within 5 s" "got: $rc" "log:" "$(cat "$MERIDIAND_LOG")"
    fi
    q www.example.com A
    assert_rcode TIMEOUT "no answer after SIG$sig"
done

finish
