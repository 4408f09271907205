#!/usr/bin/env bash
# privdrop.sh: meridiand binds its sockets as root, then becomes
# server.user (and server.group); it refuses to stay root unless
# server.allow_root says so, and refuses an unknown user or group, and a
# group without a user. Started as the user already, it refuses a group it
# cannot take. Skipped (77) unless run as root with a "nobody" account.
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
write_conf nogroup "user: nobody" "group: no-such-group-here"
write_conf grouponly "allow_root: true" "group: nogroup"

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

echo "## server.group"
run_meridiand -c "$WORKDIR/nogroup.yaml" --listen "127.0.0.1:$(free_port)"
expect_rc 1
expect_output '^meridiand: server.group: no group named no-such-group-here$' "names the group"
run_meridiand -c "$WORKDIR/grouponly.yaml" --listen "127.0.0.1:$(free_port)"
expect_rc 1
expect_output 'grouponly\.yaml:4:3: server\.group: needs server\.user' \
    "a group without a user is a config error at its line"
run_meridiand --check -c "$WORKDIR/grouponly.yaml"
expect_rc 1
# A group that is not nobody's own, so that taking it shows.
if ! daemon_gid=$(getent group daemon | cut -d: -f3) || [ -z "$daemon_gid" ] ||
    [ "$daemon_gid" = "$(id -g nobody)" ]; then
    skip_checks 5 "no group daemon distinct from nobody's own"
else
    write_conf withgroup "user: nobody" "group: daemon"
    start_meridiand "$WORKDIR/withgroup.yaml"
    gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$MERIDIAND_PID/status")
    assert_eq "$daemon_gid $daemon_gid $daemon_gid $daemon_gid" "$gids" \
        "server.group: daemon: every gid (real, effective, saved, fs)"
    groups=$(awk '/^Groups:/ {$1=""; print $0}' "/proc/$MERIDIAND_PID/status" | xargs)
    assert_eq "$daemon_gid" "$groups" "server.group: daemon: the only supplementary group"
    q www.example.com A
    assert_rcode NOERROR
    if grep -q "running as user nobody (uid $nobody_uid, gid $daemon_gid)" "$MERIDIAND_LOG"; then
        pass "log: running as user nobody (uid $nobody_uid, gid $daemon_gid)"
    else
        fail "log names the group's gid" "log: $(cat "$MERIDIAND_LOG")"
    fi
    # Started as nobody already: a group it is not in cannot be taken.
    if command -v setpriv >/dev/null; then
        chmod 755 "$WORKDIR"
        run_meridiand_as_nobody() {
            R_CMD="(as nobody) meridiand $*"
            R_RC=0
            R_OUT=$(timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
                "$MERIDIAND" "$@" 2>&1) || R_RC=$?
        }
        run_meridiand_as_nobody -c "$WORKDIR/withgroup.yaml" --listen "127.0.0.1:$(free_port)"
        expect_rc 1
        expect_output '^meridiand: cannot become group daemon: Operation not permitted$' \
            "started as nobody: refuses a group it cannot take"
        chmod 700 "$WORKDIR"
    else
        skip_checks 2 "no setpriv to start as nobody"
    fi
fi

echo "## server.allow_root: true keeps root"
start_meridiand "$WORKDIR/allowed.yaml"
uid=$(awk '/^Uid:/ {print $3}' "/proc/$MERIDIAND_PID/status")
if [ "$uid" = 0 ]; then pass "allowed to stay root"; else fail "stays root" "got uid $uid"; fi
finish
