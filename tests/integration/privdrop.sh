#!/usr/bin/env bash
# privdrop.sh: meridiand binds its sockets as root, then becomes
# server.user; it refuses to stay root unless server.allow_root says so,
# and refuses an unknown user. Skipped (77) unless run as root with a
# "nobody" account.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig
[ "$(id -u)" = 0 ] || skip "needs root to drop privileges"
nobody_uid=$(id -u nobody 2>/dev/null) || skip "no user named nobody"

# Configs from the basic test's zone, with only the server section changed.
write_conf() { # NAME SERVER-LINES...
    local name=$1
    shift
    {
        echo "server:"
        case " $* " in
        *" control: "*) ;;
        *) echo '  control: ""' ;;
        esac
        for line in "$@"; do echo "  $line"; done
        echo "zones:"
        echo "  - $DATA/basic/example.com.zone"
    } >"$WORKDIR/$name.yaml"
}
write_conf root
write_conf nobody "user: nobody" "control: $WORKDIR/ctl.sock"
write_conf nouser "user: no-such-user-here"
write_conf allowed "allow_root: true"

echo "## root without server.user is refused"
run_meridiand -c "$WORKDIR/root.yaml" --listen "127.0.0.1:$(free_port)"
expect_rc 1
expect_output 'refusing to run as root' "says why"

echo "## an unknown user is refused"
run_meridiand -c "$WORKDIR/nouser.yaml" --listen "127.0.0.1:$(free_port)"
expect_rc 1
expect_output 'no user named no-such-user-here' "names the user"

echo "## server.user: nobody"
start_meridiand "$WORKDIR/nobody.yaml"
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$MERIDIAND_PID/status")
if [ "$uid" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ]; then
    pass "every uid (real, effective, saved, fs) is nobody's ($nobody_uid)"
else
    fail "the daemon runs as nobody" "expected: $nobody_uid x4" "got:      $uid"
fi
groups=$(awk '/^Groups:/ {$1=""; print $0}' "/proc/$MERIDIAND_PID/status" | xargs)
nobody_gid=$(id -g nobody)
if [ "$groups" = "$nobody_gid" ]; then
    pass "supplementary groups dropped to nobody's ($nobody_gid)"
else
    fail "supplementary groups" "expected: $nobody_gid" "got:      $groups"
fi
q www.example.com A
assert_rcode NOERROR
expect_log() {
    if grep -q -- "$1" "$MERIDIAND_LOG"; then pass "log: $1"; else fail "log: $1" "not in the log"; fi
}
expect_log "running as user nobody"
owner=$(stat -c '%u %a' "$WORKDIR/ctl.sock" 2>/dev/null || echo missing)
if [ "$owner" = "$nobody_uid 660" ]; then
    pass "the control socket belongs to nobody, mode 0660"
else
    fail "control socket owner and mode" "expected: $nobody_uid 660" "got:      $owner"
fi

echo "## server.allow_root: true keeps root"
start_meridiand "$WORKDIR/allowed.yaml"
uid=$(awk '/^Uid:/ {print $3}' "/proc/$MERIDIAND_PID/status")
if [ "$uid" = 0 ]; then pass "allowed to stay root"; else fail "stays root" "got uid $uid"; fi
finish
