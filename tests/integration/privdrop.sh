#!/usr/bin/env bash
# privdrop.sh: meridiand binds its sockets as root, then becomes
# privdrop.sh: meridiand binds its sockets as root, then becomes
# server.user (and server.group); it refuses to stay root unless
# server.allow_root says so, and refuses an unknown user or group, and a
# group without a user. Started as the user already, it refuses a group it
# cannot take. Every file it reads or writes once it is that user is
# checked by --check and at start, as that user: a zone or a GeoIP
# database only root can read, a state file directory or a control socket
# directory it cannot write in are refused (exit 1, the exact message)
# instead of failing the first reload or leaving the socket behind at stop;
# csv2mmdb writes databases others can read (0644); the control socket is
# removed at stop. Skipped (77) unless run as root with a "nobody" account.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd dig
[ "$(id -u)" = 0 ] || skip "needs root to drop privileges"
nobody_uid=$(id -u nobody 2>/dev/null) || skip "no user named nobody"
# The daemon reads its config and zones as nobody: let it into the temp dir.
chmod 755 "$WORKDIR"

# Configs from the basic test's zone, with only the server section changed
# (ZONE and GEOIP, when set, replace the zone and add a database).
write_conf() { # NAME SERVER-LINES...
    local name=$1
    shift
    case " $* " in
    *" control: "*) server_conf "$WORKDIR/$name.yaml" "$@" ;;
    *) server_conf "$WORKDIR/$name.yaml" 'control: ""' "$@" ;;
    esac
    if [ -n "${GEOIP:-}" ]; then
        printf 'geoip:\n  database: %s\n  countries: %s\n' "$GEOIP" \
            "$top_srcdir/geoip/countries.csv" >>"$WORKDIR/$name.yaml"
    fi
}
# A directory nobody may write in, for the socket and the state file.
RUN="$WORKDIR/run"
mkdir -p "$RUN"
chown nobody "$RUN"
write_conf root
write_conf nobody "user: nobody" "control: $RUN/ctl.sock" "state_file: $RUN/state"
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
owner=$(stat -c "%u %a" "$RUN/ctl.sock" 2>/dev/null || echo missing)
if [ "$owner" = "$nobody_uid 660" ]; then
    pass "the control socket belongs to nobody, mode 0660"
else
    fail "control socket owner and mode" "expected: $nobody_uid 660" "got:      $owner"
fi

echo "## the control socket is removed at stop"
kill -TERM "$MERIDIAND_PID"
wait "$MERIDIAND_PID" 2>/dev/null || true
if [ -e "$RUN/ctl.sock" ]; then
    fail "the control socket is gone after SIGTERM" "still there: $(ls -l "$RUN/ctl.sock")"
else
    pass "the control socket is gone after SIGTERM"
fi

echo "## what only root can read or write is refused before serving"
SECRET="$WORKDIR/secret"
mkdir -m 700 "$SECRET"
cp "$DATA/basic/example.com.zone" "$SECRET/example.com.zone"
ZONE="$SECRET/example.com.zone" write_conf rootzone "user: nobody"
expect_refused "$WORKDIR/rootzone.yaml" "$SECRET/example.com.zone: cannot open: Permission denied"

if perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null; then
    (umask 022 && build_mmdb "$top_srcdir/geoip/demo.csv" "$WORKDIR/demo.mmdb")
    assert_eq 644 "$(stat -c %a "$WORKDIR/demo.mmdb")" "csv2mmdb under umask 022: the mode"
    GEOIP="$WORKDIR/demo.mmdb" write_conf geo "user: nobody"
    run_meridiand --check -c "$WORKDIR/geo.yaml"
    expect_rc 0
    cp "$WORKDIR/demo.mmdb" "$WORKDIR/private.mmdb"
    chmod 600 "$WORKDIR/private.mmdb"
    GEOIP="$WORKDIR/private.mmdb" write_conf rootgeo "user: nobody"
    expect_refused "$WORKDIR/rootgeo.yaml" \
        "$WORKDIR/private.mmdb: cannot open the GeoIP database: Permission denied"
else
    skip_checks 6 "csv2mmdb cannot run here (no MaxMind::DB::Writer): the GeoIP cases"
fi

write_conf rootstate "user: nobody" "state_file: $WORKDIR/state"
expect_refused "$WORKDIR/rootstate.yaml" \
    "$WORKDIR/rootstate.yaml: server.state_file: cannot write in $WORKDIR as user nobody: Permission denied"
write_conf rootctl "user: nobody" "control: $WORKDIR/ctl.sock"
expect_refused "$WORKDIR/rootctl.yaml" \
    "$WORKDIR/rootctl.yaml: server.control: cannot write in $WORKDIR as user nobody: Permission denied"
run_meridiand --check -c "$WORKDIR/nobody.yaml"
expect_rc 0

echo "## server.group"
run_meridiand -c "$WORKDIR/nogroup.yaml" --listen "127.0.0.1:$(free_port)"
expect_rc 1
expect_output 'server\.group: no group named no-such-group-here$' "names the group"
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
